/**
 * The images' production layout built without docker (issue 12): what the last stage of
 * Dockerfile.broker copies, read from the Dockerfile itself, into `ROOT/app`, and its `nexus` link
 * in `ROOT/bin`. The build stage's `/src/dist` is this tree's `dist/` (jest's global set-up needs
 * it built); the prod-deps stage's `node_modules` is its own `npm ci` command, run here from the
 * npm cache (`--offline`, else `--prefer-offline`: the registry is the only network there is).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, finalCopies, readDockerfile, stageNamed, type Dockerfile } from './dockerfile.js';

const run = promisify(execFile);

export interface ProductionLayout {
  root: string;
  /** Where the image's WORKDIR (/app) is laid out. */
  app: string;
  /** The image's `nexus` (a link to dist/cli/main.js, run by its `#!/usr/bin/env node` line). */
  bin: string;
  /** The npm command that installed node_modules, as run. */
  install: string[];
}

/** The image's WORKDIR, where its COPY destinations are relative to. */
const APP_DIR = '/app';
/** The build stage's WORKDIR, which stands for this tree. */
const BUILD_DIR = '/src';

/** The prod-deps stage's `npm ci …` (the part before `&&`: never its `npm cache clean`). */
export function prodDepsInstall(file: Dockerfile): string[] {
  const run = stageNamed(file, 'prod-deps')?.instructions.find(
    (i) => i.keyword === 'RUN' && i.args.startsWith('npm ci'),
  );
  if (!run) throw new Error('the prod-deps stage has no RUN npm ci');
  return (run.args.split('&&')[0] as string).trim().split(/\s+/).slice(1);
}

async function npmCi(app: string, args: string[]): Promise<string[]> {
  try {
    const offline = [...args, '--offline'];
    await run('npm', offline, { cwd: app });
    return offline;
  } catch (err) {
    // ENOTCACHED: a package missing from the cache; let npm fetch what it must from the registry.
    if (!String((err as { stderr?: string }).stderr ?? err).includes('ENOTCACHED')) throw err;
    const preferOffline = [...args, '--prefer-offline'];
    await run('npm', preferOffline, { cwd: app });
    return preferOffline;
  }
}

/** Builds the layout in a new temporary folder. */
export async function buildProductionLayout(dockerfile = 'Dockerfile.broker'): Promise<ProductionLayout> {
  const file = readDockerfile(dockerfile);
  const root = await mkdtemp(path.join(tmpdir(), 'nexus-layout-'));
  const app = path.join(root, 'app');
  await mkdir(app, { recursive: true });
  const target = (destination: string) =>
    path.resolve(app, path.relative(APP_DIR, path.resolve(APP_DIR, destination)));
  let install: string[] = [];
  // The context's files first: npm ci reads package.json and package-lock.json.
  const copies = finalCopies(file).sort((a, b) => Number(a.from !== null) - Number(b.from !== null));
  for (const copy of copies) {
    const into = target(copy.destination);
    if (copy.from === null) {
      for (const source of copy.sources)
        await cp(path.join(REPO_ROOT, source), path.join(into, path.basename(source)));
    } else if (copy.from === 'build') {
      for (const source of copy.sources)
        await cp(path.join(REPO_ROOT, path.relative(BUILD_DIR, source)), into, { recursive: true });
    } else if (copy.from === 'prod-deps' && copy.sources.join() === `${APP_DIR}/node_modules`) {
      install = await npmCi(app, prodDepsInstall(file));
    } else {
      throw new Error(`${dockerfile}: a COPY this layout does not know how to make: ${JSON.stringify(copy)}`);
    }
  }
  // The last stage's `RUN ln -s /app/dist/cli/main.js /usr/local/bin/nexus`, in ROOT/bin.
  const link = file.stages
    .at(-1)
    ?.instructions.map((i) => (i.keyword === 'RUN' ? /\bln -s (\S+) (\S+)/.exec(i.args) : null))
    .find((m) => m !== null);
  if (!link) throw new Error(`${dockerfile}: no RUN ln -s of the nexus command in the last stage`);
  const bin = path.join(root, 'bin', path.basename(link[2] as string));
  await mkdir(path.dirname(bin));
  await symlink(target(link[1] as string), bin);
  return { root, app, bin, install: ['npm', ...install] };
}
