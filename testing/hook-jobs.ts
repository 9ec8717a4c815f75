/**
 * The test plays the kubelet and the Job controller for a Helm hook Job on the Kubernetes API
 * double: it reads the Job's containers, resolves their environment as the kubelet would (plain
 * values, `secretKeyRef` from the double's store, the downward API's pod name and namespace), lets
 * the test run each container's command itself, and then writes the status the Job controller
 * writes when every pod succeeded, which is what `helm install|uninstall` waits for. Nothing here
 * decides what a container runs: that is all the chart's.
 */
import type { KubeDouble, Obj } from './kube-double/index.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}

export interface HookContainer {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
}

interface JobPodSpec {
  template: { spec: { initContainers?: HookContainer[]; containers: HookContainer[] } };
}

/** The containers of a Job's pod template, in order (they run side by side, after the init containers). */
export function jobContainers(job: Obj): HookContainer[] {
  return (job.spec as JobPodSpec).template.spec.containers;
}

/** The init containers of a Job's pod template, in the order the kubelet runs them, one after another. */
export function jobInitContainers(job: Obj): HookContainer[] {
  return (job.spec as JobPodSpec).template.spec.initContainers ?? [];
}

/**
 * A container's environment as the kubelet gives it in a pod named `podName`: `secretKeyRef`
 * values decoded from the Secret in the double (a missing one fails, as the pod would not start),
 * `metadata.name` and `metadata.namespace` from the downward API.
 */
export function containerEnv(
  double: KubeDouble,
  job: Obj,
  container: HookContainer,
  podName: string,
): Record<string, string> {
  const namespace = job.metadata.namespace ?? 'default';
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    const { secretKeyRef, fieldRef } = entry.valueFrom ?? {};
    if (secretKeyRef) {
      const secret = double.find({ kind: 'Secret', namespace, name: secretKeyRef.name });
      const encoded = (secret?.data as Record<string, string> | undefined)?.[secretKeyRef.key];
      if (encoded === undefined) {
        if (secretKeyRef.optional) continue;
        throw new Error(
          `${container.name}: Secret ${namespace}/${secretKeyRef.name} has no key ${secretKeyRef.key} (CreateContainerConfigError)`,
        );
      }
      env[entry.name] = Buffer.from(encoded, 'base64').toString();
    } else if (fieldRef) {
      const fields: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': namespace };
      const value = fields[fieldRef.fieldPath];
      if (value === undefined)
        throw new Error(`${container.name}: no downward-API field ${fieldRef.fieldPath}`);
      env[entry.name] = value;
    } else env[entry.name] = entry.value ?? '';
  }
  return env;
}

/**
 * Writes what the Job controller writes once the Job's pod succeeded: `succeeded: 1` and the
 * `SuccessCriteriaMet` and `Complete` conditions (Helm's status watcher reads `Complete`).
 */
export function completeJob(double: KubeDouble, job: Obj): Obj {
  const now = new Date().toISOString();
  return double.update(
    { kind: 'Job', apiVersion: 'batch/v1', namespace: job.metadata.namespace, name: job.metadata.name! },
    (o) => {
      o.status = {
        startTime: now,
        completionTime: now,
        succeeded: 1,
        active: 0,
        ready: 0,
        conditions: ['SuccessCriteriaMet', 'Complete'].map((type) => ({
          type,
          status: 'True',
          lastProbeTime: now,
          lastTransitionTime: now,
        })),
      };
    },
  );
}
