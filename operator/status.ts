/**
 * An Aspect's status from what the reconcile saw (B.63, B.106), and the status write it needs:
 * none when nothing but the heartbeat would change, so a converged Aspect costs zero writes.
 *
 * Phase: `Failed` only for a spec error (InvalidSpec); `Suspended` while `spec.suspend`; while the
 * broker cannot be asked, a referenced ConfigMap is missing, or while deleting, the phase stays; `Running` once Ready;
 * otherwise `Pending`. Every condition carries the generation, a reason of CONDITION_REASONS and
 * a message; its `lastTransitionTime` moves only when its status does. `Ready` is True when the
 * token, the pod and the registration are; otherwise it copies the first condition that is not
 * (so the `Reason` column names the actual cause), or names the Aspect-wide cause first.
 */
import type {
  AspectCondition,
  AspectPhase,
  AspectStatus,
  ConditionType,
} from '../protocol/aspect-resource.js';
import { podReadyCondition, type ConditionValue } from './pod-conditions.js';
import { objectNames, type BrokerView, type KubeObject } from './types.js';

export type TokenFact =
  | { kind: 'ready'; id: string }
  | { kind: 'pending'; message: string }
  | { kind: 'nameInUse'; holder: string }
  | { kind: 'unknown'; message: string };

export interface StatusFacts {
  name: string;
  generation: number;
  suspended: boolean;
  /** A spec error (the parse's, a check of B.96 or the API server's 422, B.100). */
  invalidSpec?: string;
  /** Set while the finalizer runs: what it is waiting for. */
  deleting?: string;
  /** A referenced ConfigMap or key that does not exist (B.107). */
  configMapMissing?: string;
  pvc?: KubeObject;
  statefulSet?: KubeObject;
  pod?: KubeObject;
  token: TokenFact;
  /** Undefined when the broker could not be asked; `brokerError` then says why. */
  broker?: BrokerView;
  brokerError?: string;
}

/** The status write: the full new status and the merge patch that writes it. */
export interface StatusChange {
  status: AspectStatus;
  patch: Record<string, unknown>;
}

const MAX_MESSAGE = 32_768;

function condition(
  type: ConditionType,
  value: ConditionValue,
  generation: number,
  previous: AspectStatus | undefined,
  now: string,
): AspectCondition {
  const before = previous?.conditions?.find((c) => c.type === type);
  const message =
    value.message.length > MAX_MESSAGE ? `${value.message.slice(0, MAX_MESSAGE - 1)}…` : value.message;
  return {
    type,
    status: value.status,
    reason: value.reason,
    message: message || value.reason,
    observedGeneration: generation,
    lastTransitionTime: before && before.status === value.status ? before.lastTransitionTime : now,
  };
}

function homeReady(facts: StatusFacts): ConditionValue {
  const claim = objectNames(facts.name).pvc;
  if (!facts.pvc)
    return {
      status: 'False',
      reason: 'ClaimPending',
      message: `PersistentVolumeClaim ${claim} is not created yet`,
    };
  const phase = (facts.pvc.status as { phase?: string } | undefined)?.phase;
  if (phase === 'Bound')
    return { status: 'True', reason: 'ClaimBound', message: `PersistentVolumeClaim ${claim} is bound` };
  return {
    status: 'False',
    reason: 'ClaimPending',
    message: `PersistentVolumeClaim ${claim} is ${phase ?? 'Pending'} (a WaitForFirstConsumer class binds it when the pod is scheduled)`,
  };
}

function tokenReady(facts: StatusFacts): ConditionValue {
  const secret = objectNames(facts.name).secret;
  switch (facts.token.kind) {
    case 'ready':
      return {
        status: 'True',
        reason: 'TokenWritten',
        // The Secret is never read (B.61): what was written, not what it holds now.
        message: `token ${facts.token.id} was written into Secret ${secret}`,
      };
    case 'pending':
      return { status: 'False', reason: 'TokenPending', message: facts.token.message };
    case 'nameInUse':
      return {
        status: 'False',
        reason: 'NameInUse',
        message: nameInUseMessage(facts.name, facts.token.holder),
      };
    case 'unknown':
      return { status: 'Unknown', reason: 'BrokerUnavailable', message: facts.token.message };
  }
}

function nameInUseMessage(name: string, holder: string): string {
  return `the aspect name ${name} is held from another namespace (token ${holder}); names are unique per broker (B.68)`;
}

function registered(facts: StatusFacts): ConditionValue {
  if (facts.token.kind === 'nameInUse')
    return {
      status: 'False',
      reason: 'NameInUse',
      message: nameInUseMessage(facts.name, facts.token.holder),
    };
  if (!facts.broker)
    return {
      status: 'Unknown',
      reason: 'BrokerUnavailable',
      message: facts.brokerError || 'the broker could not be asked',
    };
  switch (facts.broker.rosterStatus) {
    case 'live':
      return { status: 'True', reason: 'Live', message: `the broker's roster lists ${facts.name} as live` };
    case 'stale':
      return {
        status: 'True',
        reason: 'Stale',
        message: `the broker's roster lists ${facts.name} as stale (heartbeats late)`,
      };
    case 'down':
      return { status: 'False', reason: 'Down', message: `the broker's roster lists ${facts.name} as down` };
    default:
      return {
        status: 'False',
        reason: 'NotRegistered',
        message: `${facts.name} has not registered with the broker`,
      };
  }
}

function ready(facts: StatusFacts, parts: [ConditionType, ConditionValue][]): ConditionValue {
  if (facts.invalidSpec) return { status: 'False', reason: 'InvalidSpec', message: facts.invalidSpec };
  if (facts.deleting) return { status: 'False', reason: 'Deleting', message: facts.deleting };
  if (facts.suspended)
    return { status: 'False', reason: 'Suspended', message: 'spec.suspend is true: scaled to zero' };
  if (facts.configMapMissing)
    return { status: 'False', reason: 'ConfigMapMissing', message: facts.configMapMissing };
  for (const status of ['False', 'Unknown'] as const) {
    const cause = parts.find(([, value]) => value.status === status);
    if (cause) return { status, reason: cause[1].reason, message: `${cause[0]}: ${cause[1].message}` };
  }
  return { status: 'True', reason: 'Ready', message: `${facts.name} is running and registered` };
}

function phaseOf(
  facts: StatusFacts,
  readyValue: ConditionValue,
  previous: AspectPhase | undefined,
): AspectPhase {
  if (facts.invalidSpec) return 'Failed';
  if (facts.deleting) return previous ?? 'Pending';
  if (facts.suspended) return 'Suspended';
  // B.63: a transient failure keeps the phase; a first reconcile has none to keep.
  if (!facts.broker || facts.configMapMissing)
    return previous === 'Failed' ? 'Pending' : (previous ?? 'Pending');
  return readyValue.status === 'True' ? 'Running' : 'Pending';
}

/** The status the facts give, transition times kept where a condition's status did not change. */
export function computeStatus(
  facts: StatusFacts,
  previous: AspectStatus | undefined,
  now: string,
): AspectStatus {
  const pod = podReadyCondition(facts.suspended, facts.statefulSet, facts.pod);
  const values: [ConditionType, ConditionValue][] = [
    ['HomeReady', homeReady(facts)],
    ['TokenReady', tokenReady(facts)],
    ['PodReady', pod],
    ['Registered', registered(facts)],
  ];
  const readyValue = ready(facts, values.slice(1));
  values.push(['Ready', readyValue]);
  const registeredValue = values[3]![1];
  const status: AspectStatus = {
    phase: phaseOf(facts, readyValue, previous?.phase),
    observedGeneration: facts.generation,
    // While the broker cannot be asked, what it said last still stands.
    registered:
      registeredValue.status === 'Unknown'
        ? (previous?.registered ?? false)
        : registeredValue.status === 'True',
    conditions: values.map(([type, value]) => condition(type, value, facts.generation, previous, now)),
  };
  const heartbeat = facts.broker?.lastHeartbeat ?? previous?.lastHeartbeat;
  if (heartbeat !== undefined) status.lastHeartbeat = heartbeat;
  return status;
}

/**
 * The status write the facts call for, or null when only the heartbeat would change (B.63: the
 * heartbeat rides along with another change, it never causes a write).
 */
export function statusUpdate(
  facts: StatusFacts,
  previous: AspectStatus | undefined,
  now: string,
): StatusChange | null {
  const status = computeStatus(facts, previous, now);
  const { lastHeartbeat: _new, ...rest } = status;
  const { lastHeartbeat: _old, ...before } = previous ?? {};
  if (previous && sameJson(rest, before)) return null;
  const patch: Record<string, unknown> = { ...status };
  for (const key of Object.keys(previous ?? {})) if (!(key in status)) patch[key] = null;
  return { status, patch };
}

/** Deep equality of JSON values, key order ignored (the API server may reorder keys). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]))
    );
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ka.length === kb.length &&
    ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}
