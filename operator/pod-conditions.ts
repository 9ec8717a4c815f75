/**
 * The `PodReady` condition, read from the StatefulSet and its pod `NAME-0` (B.106): when the pod
 * is not ready, the reason and message are the pod's own, the scheduler's `Unschedulable` or the
 * container's waiting reason, so `kubectl get asp` says why without a `kubectl describe pod`.
 */
import type { ConditionReason } from '../protocol/aspect-resource.js';
import type { KubeObject } from './types.js';

export interface ConditionValue {
  status: 'True' | 'False' | 'Unknown';
  reason: ConditionReason;
  message: string;
}

/** Container waiting reasons copied into PodReady as Kubernetes names them. */
const COPIED_WAITING_REASONS = [
  'ImagePullBackOff',
  'ErrImagePull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
] as const satisfies readonly ConditionReason[];

interface PodCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}
interface ContainerStatus {
  name?: string;
  state?: { waiting?: { reason?: string; message?: string } };
}
interface PodStatus {
  phase?: string;
  conditions?: PodCondition[];
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
}

/** PodReady from what the cluster shows; `suspended` wins (a scaled-down pod is expected gone). */
export function podReadyCondition(
  suspended: boolean,
  statefulSet: KubeObject | undefined,
  pod: KubeObject | undefined,
): ConditionValue {
  if (suspended)
    return { status: 'False', reason: 'Suspended', message: 'spec.suspend is true: scaled to zero' };
  if (!statefulSet)
    return { status: 'False', reason: 'NoPod', message: 'the StatefulSet is not created yet' };
  if (!pod) return { status: 'False', reason: 'NoPod', message: 'the StatefulSet has no pod yet' };
  const name = pod.metadata.name;
  const status = (pod.status ?? {}) as PodStatus;
  const conditions = status.conditions ?? [];
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable')
    return {
      status: 'False',
      reason: 'Unschedulable',
      message: scheduled.message || `pod ${name} cannot be scheduled`,
    };
  for (const container of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
    const waiting = container.state?.waiting;
    const copied = COPIED_WAITING_REASONS.find((r) => r === waiting?.reason);
    if (copied)
      return {
        status: 'False',
        reason: copied,
        message:
          waiting?.message || `container ${container.name ?? '?'} of pod ${name} is waiting: ${copied}`,
      };
  }
  if (pod.metadata.deletionTimestamp)
    return { status: 'False', reason: 'PodPending', message: `pod ${name} is terminating` };
  const ready = conditions.find((c) => c.type === 'Ready');
  if (ready?.status === 'True')
    return { status: 'True', reason: 'PodRunning', message: `pod ${name} is ready` };
  if (status.phase === 'Running')
    return {
      status: 'False',
      reason: 'ContainersNotReady',
      message: ready?.message || `pod ${name} is running but not ready`,
    };
  const waiting = (status.containerStatuses ?? []).find((c) => c.state?.waiting?.reason)?.state?.waiting
    ?.reason;
  return {
    status: 'False',
    reason: 'PodPending',
    message: `pod ${name} is ${status.phase ?? 'Pending'}${waiting ? ` (${waiting})` : ''}`,
  };
}
