/**
 * The images' Dockerfiles (issue 12; SPEC section 11, B.70, B.93, B.101), checked without docker:
 * linted by dockerfile-utils (the linter of VS Code's Docker support, every rule an error), then
 * read for what the images promise: multi-stage, a base pinned by its full version tag, no ADD,
 * production dependencies only, uid/gid 1000, a HEALTHCHECK through `nexus health`, OCI labels,
 * the processes' ports, and a build that compiles every folder the build config includes. That
 * the layout they copy really runs is e2e/production-layout.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validate, ValidationSeverity, type ValidatorSettings } from 'dockerfile-utils';
import { RUNTIME_METRICS_PORT } from '../operator/pod-spec.js';
import { POD_PATHS } from '../protocol/aspect-resource.js';
import {
  REPO_ROOT,
  execForm,
  finalCopies,
  readDockerfile,
  stageNamed,
  type Dockerfile,
  type Instruction,
} from '../testing/dockerfile.js';

const FILES = ['Dockerfile.broker', 'Dockerfile.runtime'];
const read = (name: string) => readFileSync(path.join(REPO_ROOT, name), 'utf8');

/** Every optional rule of the linter as an error. */
const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

const lint = (text: string) =>
  validate(text, STRICT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);

const last = (file: Dockerfile) => file.stages.at(-1) as NonNullable<ReturnType<typeof file.stages.at>>;
const all = (file: Dockerfile, keyword: string): Instruction[] =>
  last(file).instructions.filter((i) => i.keyword === keyword);

/** `KEY=VALUE` pairs of LABEL or ENV arguments (values may be double-quoted). */
function pairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of args.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g))
    out[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '');
  return out;
}

describe('the Dockerfiles', () => {
  it('lint clean with every rule an error (and the linter does find faults)', () => {
    for (const name of FILES) expect({ name, problems: lint(read(name)) }).toEqual({ name, problems: [] });
    const broken = read('Dockerfile.broker').replace('HEALTHCHECK --interval', 'HEALTHCHECK --intervall');
    expect(lint(broken)).toEqual([expect.stringContaining('Unknown flag: intervall')]);
  });

  it.each(FILES)('%s: multi-stage from a base pinned by its full version tag, no ADD', (name) => {
    const file = readDockerfile(name);
    expect(file.stages.map((s) => s.name)).toEqual(['build', 'prod-deps', null]);
    for (const stage of file.stages) {
      expect(stage.from).toMatch(/^node:20\.\d+\.\d+-[a-z]+-slim$/);
      expect(stage.instructions.filter((i) => i.keyword === 'ADD')).toEqual([]);
    }
    // One base for every stage of both images: a builder pulls and caches it once.
    expect(new Set(FILES.flatMap((f) => readDockerfile(f).stages.map((s) => s.from))).size).toBe(1);
  });

  it.each(FILES)(
    '%s: the last stage has production dependencies only, copied from a --omit=dev --omit=optional install',
    (name) => {
      const file = readDockerfile(name);
      const copies = finalCopies(file);
      const modules = copies.find((c) => c.destination.replace(/\/$/, '').endsWith('node_modules'));
      expect(modules?.from).toBe('prod-deps');
      const install = stageNamed(file, 'prod-deps')?.instructions.find(
        (i) => i.keyword === 'RUN' && i.args.includes('npm ci'),
      );
      expect(install?.args).toMatch(/npm ci .*--omit=dev/);
      expect(install?.args).toMatch(/npm ci .*--omit=optional/);
      expect(install?.args).toMatch(/npm ci .*--ignore-scripts/);
      // Nothing else installs packages into the last stage, nor copies the build's node_modules.
      expect(all(file, 'RUN').filter((i) => /\bnpm (ci|install|i)\b/.test(i.args))).toEqual([]);
      expect(copies.filter((c) => c.from === 'build').flatMap((c) => c.sources)).toEqual(['/src/dist']);
    },
  );

  it.each(FILES)(
    '%s: runs as uid/gid 1000 with `nexus` as its entrypoint and a HEALTHCHECK through nexus health',
    (name) => {
      const file = readDockerfile(name);
      const users = all(file, 'USER');
      expect(users.map((u) => u.args)).toEqual(['1000:1000']);
      const entrypoint = all(file, 'ENTRYPOINT');
      expect(entrypoint.map((e) => execForm(e.args))).toEqual([['nexus']]);
      // USER comes before what runs: nothing after it runs as root.
      expect((users[0] as Instruction).line).toBeLessThan((entrypoint[0] as Instruction).line);
      expect(all(file, 'RUN').every((r) => r.line < (users[0] as Instruction).line)).toBe(true);
      const checks = all(file, 'HEALTHCHECK');
      expect(checks).toHaveLength(1);
      const check = checks[0] as Instruction;
      expect(execForm(check.args.replace(/^CMD\s+/, ''))).toEqual(['nexus', 'health']);
      expect(Object.keys(check.flags).sort()).toEqual(['interval', 'retries', 'start-period', 'timeout']);
    },
  );

  it.each(FILES)('%s: OCI labels, and no VOLUME (the home is a mount the operator gives)', (name) => {
    const file = readDockerfile(name);
    const labels = Object.assign({}, ...all(file, 'LABEL').map((l) => pairs(l.args))) as Record<
      string,
      string
    >;
    for (const key of ['title', 'description', 'version', 'licenses', 'base.name'])
      expect(labels[`org.opencontainers.image.${key}`]).toBeTruthy();
    expect(labels['org.opencontainers.image.base.name']).toContain(last(file).from);
    expect(all(file, 'VOLUME')).toEqual([]);
  });

  it('each image exposes its processes ports; the runtime image matches what the operator gives its pods', () => {
    const exposed = (name: string) => all(readDockerfile(name), 'EXPOSE').flatMap((e) => e.args.split(/\s+/));
    // Broker 7888 (HTTP, WebSocket, probes and /metrics), worker 9465, operator 9466 (B.85).
    expect(exposed('Dockerfile.broker')).toEqual(['7888', '9465', '9466']);
    expect(exposed('Dockerfile.runtime')).toEqual([String(RUNTIME_METRICS_PORT)]);
    const runtime = readDockerfile('Dockerfile.runtime');
    const env = Object.assign({}, ...all(runtime, 'ENV').map((e) => pairs(e.args))) as Record<string, string>;
    expect(env.METRICS_PORT).toBe(String(RUNTIME_METRICS_PORT));
    expect(all(runtime, 'CMD').map((c) => execForm(c.args))).toEqual([['agent', POD_PATHS.home]]);
    expect(all(readDockerfile('Dockerfile.broker'), 'CMD').map((c) => execForm(c.args))).toEqual([
      ['broker'],
    ]);
  });

  it('the build stage compiles every folder the build config includes; both files share their build stages', () => {
    const config = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const [broker, runtime] = FILES.map(readDockerfile) as [Dockerfile, Dockerfile];
    const build = stageNamed(broker, 'build');
    const copied = (build?.instructions ?? [])
      .filter((i) => i.keyword === 'COPY' && !i.flags.from)
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const folder of [
      ...config.include,
      'tsconfig.json',
      'tsconfig.build.json',
      'scripts/copy-assets.mjs',
    ])
      expect(copied).toContain(folder);
    for (const source of copied) expect(ignored).not.toContain(source);
    // What must never reach the build context.
    for (const entry of ['.git', 'node_modules', 'dist', '.nexus', 'homes']) expect(ignored).toContain(entry);
    const shared = (file: Dockerfile) =>
      file.stages
        .slice(0, 2)
        .map((s) => ({ ...s, instructions: s.instructions.map(({ line: _, ...i }) => i) }));
    expect(shared(runtime)).toEqual(shared(broker));
  });
});
