/**
 * Pod statuses a kubelet and scheduler would write, for tests that play them: Ready, not
 * schedulable, or a container stuck waiting (ImagePullBackOff, CrashLoopBackOff,
 * CreateContainerConfigError...). The operator copies these reasons into its conditions (B.106).
 */
import { isObject, type Obj } from './types.js';

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

const condition = (type: string, status: 'True' | 'False', reason?: string, message?: string) => ({
  type,
  status,
  lastTransitionTime: now(),
  ...(reason ? { reason } : {}),
  ...(message ? { message } : {}),
});

function containerNames(pod: Obj): string[] {
  const spec = isObject(pod.spec) ? pod.spec : {};
  const containers = Array.isArray(spec.containers) ? spec.containers.filter(isObject) : [];
  return containers.map((c) => String(c.name ?? 'main'));
}

export function readyStatus(pod: Obj): Record<string, unknown> {
  const at = now();
  return {
    phase: 'Running',
    conditions: [
      condition('PodScheduled', 'True'),
      condition('Initialized', 'True'),
      condition('ContainersReady', 'True'),
      condition('Ready', 'True'),
    ],
    containerStatuses: containerNames(pod).map((name) => ({
      name,
      ready: true,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: at } },
    })),
    startTime: at,
  };
}

export function unschedulableStatus(
  message = '0/1 nodes are available: 1 Insufficient memory.',
): Record<string, unknown> {
  return { phase: 'Pending', conditions: [condition('PodScheduled', 'False', 'Unschedulable', message)] };
}

export function waitingStatus(
  pod: Obj,
  reason: string,
  message = `container is waiting: ${reason}`,
): Record<string, unknown> {
  const names = containerNames(pod);
  return {
    phase: 'Pending',
    conditions: [
      condition('PodScheduled', 'True'),
      condition('Initialized', 'True'),
      condition(
        'ContainersReady',
        'False',
        'ContainersNotReady',
        `containers with unready status: [${names.join(' ')}]`,
      ),
      condition(
        'Ready',
        'False',
        'ContainersNotReady',
        `containers with unready status: [${names.join(' ')}]`,
      ),
    ],
    containerStatuses: names.map((name) => ({
      name,
      ready: false,
      started: false,
      restartCount: reason === 'CrashLoopBackOff' ? 3 : 0,
      state: { waiting: { reason, message } },
    })),
  };
}

export function isPodReady(pod: Obj): boolean {
  const status = isObject(pod.status) ? pod.status : {};
  const conditions = Array.isArray(status.conditions) ? status.conditions.filter(isObject) : [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}
