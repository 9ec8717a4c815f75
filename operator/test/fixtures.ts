/** Aspects, settings and observed objects for the operator's unit tests. */
import { parseAspectSpec, type ParsedAspect } from '../../protocol/aspect-resource.js';
import type { AspectObject, BrokerView, KubeObject, OperatorSettings } from '../types.js';

export const settings: OperatorSettings = {
  runtimeImage: 'ghcr.io/nexus/runtime:1.0.0',
  nexusUrl: 'http://nexus-broker.nexus:7888',
  watchNamespaces: [],
  frameNamespaces: ['nexus'],
  podName: 'nexus-operator-0',
  podNamespace: 'nexus',
  leaseDurationS: 15,
  qps: 20,
  burst: 30,
  resyncS: 300,
  metricsPort: 9466,
  aspectPodDefaults: {},
};

export function aspect(
  spec: Record<string, unknown> = {},
  meta: Partial<AspectObject['metadata']> = {},
): AspectObject {
  return {
    apiVersion: 'nexus.dev/v1alpha1',
    kind: 'Aspect',
    metadata: {
      name: 'wren',
      namespace: 'team',
      uid: 'uid-wren',
      generation: 1,
      resourceVersion: '10',
      ...meta,
    },
    spec: {
      contextMode: 'thread',
      provider: { kind: 'claude-api', model: 'claude-sonnet-4-5' },
      ...spec,
    },
  };
}

export function parsed(object: AspectObject): ParsedAspect {
  const result = parseAspectSpec(object.metadata.name, object.spec);
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

export function brokerView(view: Partial<BrokerView> = {}): BrokerView {
  return { ownTokens: [], foreignTokenNames: [], grantsHeld: [], grantsByOperator: [], ...view };
}

/** A pod as the kubelet reports it, with the given status. */
export function pod(status: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'wren-0', namespace: 'team' }, status };
}

/** What the API server gives back for a written object: ids, versions and its defaults added. */
export function asServerStored(object: KubeObject): KubeObject {
  const copy = structuredClone(object) as KubeObject;
  copy.metadata = {
    ...copy.metadata,
    uid: `uid-${object.metadata.name}`,
    resourceVersion: '42',
    creationTimestamp: '2026-01-01T00:00:00Z',
  };
  if (object.kind === 'StatefulSet') {
    const spec = copy.spec as Record<string, unknown>;
    Object.assign(spec, {
      podManagementPolicy: 'OrderedReady',
      revisionHistoryLimit: 10,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
    });
    const podSpec = (spec.template as { spec: Record<string, unknown> }).spec;
    Object.assign(podSpec, {
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 30,
    });
    for (const c of podSpec.containers as Record<string, unknown>[]) {
      Object.assign(c, {
        imagePullPolicy: 'IfNotPresent',
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      });
      for (const probe of [c.livenessProbe, c.readinessProbe] as Record<string, unknown>[]) {
        Object.assign(probe, { timeoutSeconds: 1, successThreshold: 1 });
        (probe.httpGet as Record<string, unknown>).scheme = 'HTTP';
      }
    }
    for (const v of podSpec.volumes as Record<string, Record<string, unknown>>[]) {
      if (v.configMap) v.configMap.defaultMode = 420;
    }
  }
  if (object.kind === 'PersistentVolumeClaim') {
    Object.assign(copy.spec as object, { volumeMode: 'Filesystem', storageClassName: 'standard' });
    copy.status = { phase: 'Pending' };
  }
  return copy;
}
