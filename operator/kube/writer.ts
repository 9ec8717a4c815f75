/**
 * `KubeWriter` over the API server: the only code that changes the cluster (STYLE 2's `apply`
 * calls it). Merge patches send only what they are given (B.31, B.63); status goes to the status
 * subresource; a delete of what is already gone succeeds.
 *
 * Secrets are written blind (B.61): the operator may not read them cluster-wide, so `writeSecret`
 * (`writeSecretBlind`, which `nexus token mint --into-secret` uses too) creates the Secret and, on
 * 409 AlreadyExists, merge-patches the same content over it. It never gets or lists a Secret.
 */
import type { AspectObject, KubeObject, KubeWriter, ObjectRef, OwnerReference } from '../types.js';
import { MERGE_PATCH, type KubeClient } from './client.js';
import { isConflict, isNotFound } from './errors.js';
import type { EventRecorder } from './events.js';
import { collectionPath, objectPath } from './resources.js';

export class ApiKubeWriter implements KubeWriter {
  constructor(
    private readonly kube: KubeClient,
    private readonly events: EventRecorder,
  ) {}

  create(object: KubeObject): Promise<KubeObject> {
    const path = collectionPath(object.apiVersion, object.kind, object.metadata.namespace);
    return this.kube.request<KubeObject>('create', path, { body: object });
  }

  mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<KubeObject> {
    return this.kube.request<KubeObject>('patch', objectPath(ref), { body: patch, contentType: MERGE_PATCH });
  }

  patchStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<KubeObject> {
    return this.kube.request<KubeObject>('patch', objectPath(ref, 'status'), {
      body: { status },
      contentType: MERGE_PATCH,
    });
  }

  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.kube.request('delete', objectPath(ref));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  writeSecret(
    ref: ObjectRef,
    stringData: Record<string, string>,
    owner?: OwnerReference,
    labels?: Record<string, string>,
  ): Promise<void> {
    return writeSecretBlind(this.kube, ref, stringData, { owner, labels });
  }

  event(about: AspectObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.events.record(about, type, reason, message);
  }
}

/**
 * Writes a Secret without reading it (B.61): create, and on 409 AlreadyExists merge-patch the same
 * content over it. Shared by the operator and `nexus token mint --into-secret` (B.69, B.96).
 */
export async function writeSecretBlind(
  kube: KubeClient,
  ref: { namespace: string; name: string },
  stringData: Record<string, string>,
  extra: { owner?: OwnerReference | undefined; labels?: Record<string, string> | undefined } = {},
): Promise<void> {
  // `data` (base64) rather than `stringData`: the stored form, the same whether created or patched.
  const data = Object.fromEntries(
    Object.entries(stringData).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
  );
  const metadata = {
    ...(extra.labels ? { labels: extra.labels } : {}),
    ...(extra.owner ? { ownerReferences: [extra.owner] } : {}),
  };
  const secret = { apiVersion: 'v1', kind: 'Secret', namespace: ref.namespace, name: ref.name };
  try {
    await kube.request('create', collectionPath('v1', 'Secret', ref.namespace), {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: ref.name, namespace: ref.namespace, ...metadata },
        type: 'Opaque',
        data,
      },
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
    await kube.request('patch', objectPath(secret), { body: { metadata, data }, contentType: MERGE_PATCH });
  }
}
