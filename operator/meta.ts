/** Metadata every object the operator owns carries (B.62, B.94): labels, owner reference, refs. */
import { ASPECT_API_VERSION, ASPECT_KIND } from '../protocol/aspect-resource.js';
import {
  ASPECT_LABEL,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type AspectObject,
  type KubeObject,
  type ObjectRef,
  type OwnerReference,
} from './types.js';

/** The labels of every owned object and of the pod template; also the StatefulSet's selector. */
export function ownedLabels(aspect: string): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY, [ASPECT_LABEL]: aspect };
}

/** The controller owner reference to the Aspect: garbage collection follows it (B.62). */
export function ownerReferenceTo(aspect: AspectObject): OwnerReference {
  return {
    apiVersion: ASPECT_API_VERSION,
    kind: ASPECT_KIND,
    name: aspect.metadata.name,
    uid: aspect.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Where an object lives, from its own apiVersion, kind and metadata. */
export function refOf(object: KubeObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name,
  };
}

/** The namespace of an object ("default" when a client left it out). */
export function namespaceOf(object: KubeObject): string {
  return object.metadata.namespace ?? 'default';
}

/** The name under which this operator mints the aspect's token (B.25, B.68). */
export function aspectTokenName(aspect: AspectObject): string {
  return `operator:${namespaceOf(aspect)}/${aspect.metadata.name}`;
}
