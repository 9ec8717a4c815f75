/**
 * Client configuration for the double: a kubeconfig file (for kubectl, helm or a process started
 * with KUBECONFIG) and a client-node `KubeConfig` built in memory. `http://` needs
 * `skipTLSVerify: true` in client-node (TOOLCHAIN.md).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { KubeDouble } from './double.js';

export interface KubeconfigOptions {
  /** The context's default namespace (default `default`). */
  namespace?: string;
  /** Where to write the file (default: a new temporary directory). */
  dir?: string;
}

function document(double: Pick<KubeDouble, 'url' | 'token'>, namespace: string) {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'double', cluster: { server: double.url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'test', user: double.token ? { token: double.token } : {} }],
    contexts: [{ name: 'double', context: { cluster: 'double', user: 'test', namespace } }],
    'current-context': 'double',
  };
}

/** Writes a kubeconfig for the double and returns its path. */
export async function kubeconfigFor(
  double: Pick<KubeDouble, 'url' | 'token'>,
  options: KubeconfigOptions = {},
): Promise<string> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'kube-double-')));
  const file = path.join(dir, 'kubeconfig');
  await writeFile(file, stringify(document(double, options.namespace ?? 'default')), { mode: 0o600 });
  return file;
}

/** A client-node KubeConfig for the double. */
export function kubeConfigFor(
  double: Pick<KubeDouble, 'url' | 'token'>,
  options: { namespace?: string } = {},
): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'double', server: double.url, skipTLSVerify: true }],
    users: [{ name: 'test', ...(double.token ? { token: double.token } : {}) }],
    contexts: [
      { name: 'double', cluster: 'double', user: 'test', namespace: options.namespace ?? 'default' },
    ],
    currentContext: 'double',
  });
  return kc;
}
