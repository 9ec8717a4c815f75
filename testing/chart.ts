/**
 * The chart (charts/nexus) as the tests see it: rendered by the real `helm` (offline: `helm
 * template`, `helm lint`, `helm install --dry-run=client` for NOTES) and each rendered object
 * validated against the Kubernetes schemas of `kubernetes-models` and its KEDA and
 * Prometheus-operator companions. Aspects are checked by the operator's own parse.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseAspectSpec } from '../protocol/aspect-resource.js';
import { runHelm, type ToolRun } from './kube-tools.js';

export const CHART_PATH = path.resolve('charts/nexus');
export const RELEASE = 'nexus';
export const NAMESPACE = 'nexus-system';
export const KEDA_API = 'keda.sh/v1alpha1';
export const MONITORING_API = 'monitoring.coreos.com/v1';

export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface RenderOptions {
  values?: Record<string, unknown>;
  /** API versions the rendering "cluster" serves (`.Capabilities.APIVersions`). */
  apiVersions?: string[];
  namespace?: string;
}

/** Runs helm with a values file written from `values`; the file is removed afterwards. */
export async function helmWithValues(command: string[], options: RenderOptions = {}): Promise<ToolRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nexus-chart-'));
  try {
    const valuesFile = path.join(dir, 'values.yaml');
    await writeFile(valuesFile, JSON.stringify(options.values ?? {}));
    const args = [
      ...command,
      '--namespace',
      options.namespace ?? NAMESPACE,
      '-f',
      valuesFile,
      ...(options.apiVersions ?? []).flatMap((v) => ['--api-versions', v]),
    ];
    // HOME and the helm dirs inside the temp dir: no user config, cache or repository leaks in.
    return await runHelm(args, {
      env: {
        HOME: dir,
        HELM_CACHE_HOME: path.join(dir, 'cache'),
        HELM_CONFIG_HOME: path.join(dir, 'config'),
        HELM_DATA_HOME: path.join(dir, 'data'),
      },
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `helm template`: every rendered object (hooks and tests included). Throws with helm's stderr. */
export async function renderChart(options: RenderOptions = {}): Promise<KubeManifest[]> {
  const run = await helmWithValues(['template', RELEASE, CHART_PATH], options);
  if (run.code !== 0) throw new Error(`helm template failed (${run.code}): ${run.stderr}`);
  return parseManifests(run.stdout);
}

export function parseManifests(text: string): KubeManifest[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
      return doc.toJS() as KubeManifest | null;
    })
    .filter((o): o is KubeManifest => o !== null);
}

/** The module that holds the model of `apiVersion`/`kind`, or null when no package models it. */
function modelModule(apiVersion: string, kind: string): string | null {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'keda.sh') return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
  if (group === 'monitoring.coreos.com')
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${kind}`;
  if (
    group === '' ||
    group!.endsWith('.k8s.io') ||
    ['apps', 'batch', 'policy', 'autoscaling'].includes(group!)
  )
    return group === ''
      ? `kubernetes-models/${version}/${kind}`
      : `kubernetes-models/${group}/${version}/${kind}`;
  return null;
}

type ModelClass = new (data: unknown) => { validate(): void };

/**
 * Model modules, imported one at a time: Jest's ESM loader fails ("request for './model.mjs' is
 * not in cache") when two imports link the same shared module at once.
 */
const models = new Map<string, Promise<ModelClass | undefined>>();
let importChain: Promise<unknown> = Promise.resolve();
function loadModel(module: string, kind: string): Promise<ModelClass | undefined> {
  let loaded = models.get(module);
  if (!loaded) {
    loaded = importChain.then(async () => ((await import(module)) as Record<string, ModelClass>)[kind]);
    importChain = loaded.catch(() => undefined);
    models.set(module, loaded);
  }
  return loaded;
}

/**
 * Problems of one object against its schema: the model's `validate()` (types, required fields,
 * enums, formats; these models do not refuse unknown fields), or the operator's parse for an Aspect.
 */
export async function schemaProblems(object: KubeManifest): Promise<string | null> {
  const at = `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? '?'}`;
  if (object.apiVersion === 'nexus.dev/v1alpha1' && object.kind === 'Aspect') {
    const parsed = parseAspectSpec(object.metadata.name, object.spec);
    return parsed.ok ? null : `${at}: ${parsed.message}`;
  }
  const module = modelModule(object.apiVersion, object.kind);
  if (!module) return `${at}: no schema for ${object.apiVersion}`;
  let Model: ModelClass | undefined;
  try {
    Model = await loadModel(module, object.kind);
  } catch (err) {
    return `${at}: no model ${module}: ${(err as Error).message}`;
  }
  if (!Model) return `${at}: no model ${module}`;
  try {
    new Model(object).validate();
    return null;
  } catch (err) {
    return `${at}: ${(err as Error).message}`;
  }
}

/** The pod spec (and pod annotations) of a workload or Pod, or null for other kinds. */
export function podOf(
  object: KubeManifest,
): { spec: Record<string, unknown>; annotations: Record<string, string> } | null {
  const spec = object.spec as Record<string, unknown> | undefined;
  if (!spec) return null;
  if (object.kind === 'Pod') return { spec, annotations: object.metadata.annotations ?? {} };
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet'].includes(object.kind)) {
    const template = spec.template as {
      metadata?: { annotations?: Record<string, string> };
      spec: Record<string, unknown>;
    };
    return { spec: template.spec, annotations: template.metadata?.annotations ?? {} };
  }
  return null;
}

export const find = (objects: KubeManifest[], kind: string, name?: string): KubeManifest[] =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
