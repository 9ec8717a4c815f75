/**
 * `nexus token mint --into-secret NAMESPACE/NAME` (B.69, B.96): the chart's hook Jobs mint the
 * operator's and the workers' tokens straight into Secrets, so no token passes through a log, a
 * terminal or a Helm value. The Secret is written blind through the API server (KUBECONFIG, else
 * the pod's service account): created, or merge-patched on 409, never read (B.61), so the Job's
 * Role needs only `create` and `patch` on Secrets.
 *
 * The Kubernetes client is loaded only when the flag is given: other client commands stay quick.
 */
import { InvalidArgumentError } from 'commander';
import type { BrokerClient } from '../client/index.js';

/** Where the token goes. */
export interface SecretTarget {
  namespace: string;
  name: string;
  /** The data key that holds the token (`token`, where the runtime's and operator's pods read it). */
  key: string;
}

/** The label that records which token a Secret holds, so it can be found and revoked unread. */
export const TOKEN_ID_LABEL = 'nexus.dev/token-id';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `--into-secret NAMESPACE/NAME`: a namespace (DNS-1123 label) and a Secret name (subdomain). */
export function parseSecretRef(value: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = value.split('/');
  if (namespace === undefined || name === undefined || rest.length > 0)
    throw new InvalidArgumentError('must be NAMESPACE/NAME');
  if (namespace.length > 63 || !DNS_LABEL.test(namespace))
    throw new InvalidArgumentError(
      `namespace ${JSON.stringify(namespace)} must be a DNS-1123 label (lower-case letters, digits and -, at most 63)`,
    );
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
    throw new InvalidArgumentError(
      `Secret name ${JSON.stringify(name)} must be a DNS-1123 subdomain (lower-case letters, digits, - and ., at most 253)`,
    );
  return { namespace, name };
}

/** `--secret-key KEY`: a Secret data key. */
export function parseSecretKey(value: string): string {
  if (value.length > 253 || !/^[-._a-zA-Z0-9]+$/.test(value))
    throw new InvalidArgumentError('must be letters, digits, -, _ and . (at most 253)');
  return value;
}

/**
 * Loads the cluster's configuration first (a missing KUBECONFIG is refused before any token is
 * minted), and returns what writes the minted token into the Secret. When that write fails, the
 * token (which nobody holds then) is revoked again and the error says so; no message carries it.
 */
export async function openTokenSecretWriter(
  target: SecretTarget,
): Promise<(minted: { id: string; token: string }, broker: BrokerClient) => Promise<void>> {
  const { KubeClient, loadKubeConfig } = await import('../operator/kube/client.js');
  const { writeSecretBlind } = await import('../operator/kube/writer.js');
  const kubeConfig = loadKubeConfig();
  const where = `Secret ${target.namespace}/${target.name}`;
  return async (minted, broker) => {
    const kube = new KubeClient({ kubeConfig });
    try {
      await writeSecretBlind(
        kube,
        target,
        { [target.key]: minted.token },
        { labels: { [TOKEN_ID_LABEL]: minted.id } },
      );
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const revoked = await broker.delete(`/v1/admin/tokens/${minted.id}`).then(
        () => `revoked token ${minted.id} again`,
        () => `token ${minted.id} is live in no Secret: revoke it with nexus token revoke ${minted.id}`,
      );
      throw new TokenSecretError(`could not write ${where} (${revoked}): ${why}`, { cause: err });
    } finally {
      kube.stop();
    }
  };
}

/** The Secret could not be written; the message says what became of the token. */
export class TokenSecretError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenSecretError';
  }
}
