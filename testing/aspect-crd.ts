/**
 * The Aspect CRD in a Kubernetes API double, as `kubectl apply -f crds/` would put it in a cluster:
 * the double establishes it and serves `nexus.dev/v1alpha1` Aspects with its schema.
 */
import { aspectCrd } from '../protocol/crd/index.js';
import type { KubeDouble, Obj } from './kube-double/index.js';

export function installAspectCrd(double: KubeDouble): void {
  double.put(aspectCrd() as unknown as Obj);
}

/** An Aspect manifest (a scripted provider unless `spec` says otherwise). */
export function aspectManifest(namespace: string, name: string, spec: Record<string, unknown> = {}): Obj {
  return {
    apiVersion: 'nexus.dev/v1alpha1',
    kind: 'Aspect',
    metadata: { name, namespace },
    spec: { contextMode: 'global', provider: { kind: 'scripted' }, ...spec },
  };
}
