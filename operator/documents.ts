/**
 * The identity documents and script.json of an Aspect, resolved from inline values or from the
 * ConfigMaps they reference (B.66, B.107), and checked as the runtime would check them (B.96:
 * identity documents at most 64 KiB of UTF-8, B.51; script.json a valid script, B.52).
 *
 * A missing ConfigMap or key is transient (B.63: the user may create it next); a document the
 * runtime would refuse is a spec error (InvalidSpec), whichever source it came from.
 */
import type { AspectKubeFields, DocumentSource } from '../protocol/aspect-resource.js';
import { utf8Bytes } from '../protocol/names.js';
import { Script } from '../protocol/script.js';
import type { KubeObject } from './types.js';

const MAX_IDENTITY_BYTES = 64 * 1024;

/** The file each source becomes in the ConfigMap, hence in the home (section 2). */
const IDENTITY_FILES = { soul: 'SOUL.md', agent: 'AGENT.md', primer: 'PRIMER.md' } as const;

export type DocumentsResult =
  | { ok: true; files: Record<string, string> }
  | { ok: false; reason: 'ConfigMapMissing' | 'InvalidSpec'; message: string };

/**
 * The ConfigMaps an Aspect's `identity.*` and `script` name (in its namespace): what B.107 watches.
 * Read leniently from the spec as written, so a spec that fails validation elsewhere still has
 * its ConfigMaps followed.
 */
export function referencedConfigMapNames(spec: unknown): string[] {
  const s = (spec ?? {}) as { identity?: Record<string, unknown>; script?: unknown };
  const sources = [s.identity?.soul, s.identity?.agent, s.identity?.primer, s.script];
  const names = sources.flatMap((source) => {
    const name = (source as { configMapKeyRef?: { name?: unknown } } | undefined)?.configMapKeyRef?.name;
    return typeof name === 'string' && name !== '' ? [name] : [];
  });
  return [...new Set(names)].sort();
}

/**
 * The files the documents become, keyed by file name; a document not given is left out, so
 * `--config-from` removes it from the home (B.31).
 */
export function resolveDocuments(
  kube: AspectKubeFields,
  configMaps: ReadonlyMap<string, KubeObject | undefined>,
): DocumentsResult {
  const files: Record<string, string> = {};
  for (const [field, file] of Object.entries(IDENTITY_FILES)) {
    const source = kube.identity?.[field as keyof typeof IDENTITY_FILES];
    if (!source) continue;
    const path = `spec.identity.${field}`;
    const text = readSource(source, path, configMaps);
    if (!text.ok) return text;
    if (utf8Bytes(text.value) > MAX_IDENTITY_BYTES)
      return { ok: false, reason: 'InvalidSpec', message: `${path}: must be at most 64 KiB of UTF-8` };
    files[file] = text.value;
  }
  if (kube.script) {
    const text = readSource(kube.script, 'spec.script', configMaps);
    if (!text.ok) return text;
    const problem = scriptProblem(text.value);
    if (problem) return { ok: false, reason: 'InvalidSpec', message: `spec.script: ${problem}` };
    files['script.json'] = text.value;
  }
  return { ok: true, files };
}

type SourceText = { ok: true; value: string } | Extract<DocumentsResult, { ok: false }>;

function readSource(
  source: DocumentSource,
  path: string,
  configMaps: ReadonlyMap<string, KubeObject | undefined>,
): SourceText {
  if ('value' in source) return { ok: true, value: source.value };
  const { name, key } = source.configMapKeyRef;
  const configMap = configMaps.get(name);
  if (!configMap)
    return { ok: false, reason: 'ConfigMapMissing', message: `${path}: ConfigMap ${name} does not exist` };
  const value = configMapValue(configMap, key);
  if (value === undefined)
    return { ok: false, reason: 'ConfigMapMissing', message: `${path}: ConfigMap ${name} has no key ${key}` };
  return { ok: true, value };
}

/** A key's text from `data`, or from `binaryData` (base64) where kubectl puts non-UTF-8 files. */
function configMapValue(configMap: KubeObject, key: string): string | undefined {
  const data = configMap.data as Record<string, string> | undefined;
  if (data && typeof data[key] === 'string') return data[key];
  const binary = configMap.binaryData as Record<string, string> | undefined;
  if (binary && typeof binary[key] === 'string') return Buffer.from(binary[key], 'base64').toString('utf8');
  return undefined;
}

function scriptProblem(text: string): string | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'must be JSON (a list of script steps, B.52)';
  }
  const parsed = Script.safeParse(json);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0];
  const at = (issue?.path ?? []).map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  return `${at ? `${at.replace(/^\./, '')}: ` : ''}${issue?.message ?? 'invalid'}`;
}
