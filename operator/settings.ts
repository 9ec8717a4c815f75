/**
 * The operator's settings, read once from its environment (B.72, B.94, B.102, B.31). A bad value
 * is a ConfigError naming the variable and the rule, never echoing a value.
 */
import { ConfigError, intSetting, numberSetting, requireString } from '../platform/index.js';
import { PodSettings } from '../protocol/aspect-resource.js';
import type { OperatorSettings } from './types.js';

type Env = Record<string, string | undefined>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Reads every setting the operator needs; throws a ConfigError on the first bad one. */
export function readOperatorSettings(env: Env): OperatorSettings {
  const podNamespace = namespaceSetting(env, 'POD_NAMESPACE') ?? 'default';
  return {
    runtimeImage: requireString(env, 'RUNTIME_IMAGE'),
    nexusUrl: urlSetting(env, 'NEXUS_URL'),
    watchNamespaces: namespaceList(env, 'WATCH_NAMESPACES') ?? [],
    // B.94: frames run where the operator itself runs unless the chart says otherwise.
    frameNamespaces: namespaceList(env, 'FRAME_NAMESPACES') ?? [podNamespace],
    // Out of a cluster there is no downward API: the host name still tells replicas apart.
    podName: env.POD_NAME || env.HOSTNAME || 'nexus-operator',
    podNamespace,
    leaseDurationS: intSetting(env, 'LEASE_DURATION_S', 15, 1, 3600),
    qps: numberSetting(env, 'OPERATOR_QPS', 20, 0.1, 10_000),
    burst: intSetting(env, 'OPERATOR_BURST', 30, 1, 100_000),
    resyncS: intSetting(env, 'RESYNC_S', 300, 1, 86_400),
    metricsPort: intSetting(env, 'METRICS_PORT', 9466, 0, 65_535),
    aspectPodDefaults: podDefaults(env, 'ASPECT_POD_DEFAULTS'),
  };
}

function urlSetting(env: Env, name: string): string {
  const raw = requireString(env, name);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL, e.g. http://nexus-broker:7888`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`${name} must be an http:// or https:// URL, e.g. http://nexus-broker:7888`);
  return raw;
}

function namespaceSetting(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!DNS_LABEL.test(raw) || raw.length > 63)
    throw new ConfigError(`${name} must be a namespace name (a DNS-1123 label)`);
  return raw;
}

/** A comma-separated list of namespaces; unset or empty gives undefined. */
function namespaceList(env: Env, name: string): string[] | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const [i, ns] of list.entries()) {
    if (!DNS_LABEL.test(ns) || ns.length > 63)
      throw new ConfigError(`${name}: item ${i + 1} must be a namespace name (a DNS-1123 label)`);
  }
  return [...new Set(list)];
}

/** `ASPECT_POD_DEFAULTS` (B.102): JSON of `spec.pod`'s shape, checked by the same schema. */
function podDefaults(env: Env, name: string): Record<string, unknown> {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} must be JSON (the chart's aspectDefaults.pod)`);
  }
  const parsed = PodSettings.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
    throw new ConfigError(`${name}${at}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
