import { watch } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { watchAgents } from './agents-watch.js';
import { readMember } from './team.js';

const aspect = (name: string) =>
  JSON.stringify({ name, context_mode: 'thread', provider: { kind: 'scripted' }, tools: [] });

describe('the --agents watcher of nexus dev', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'nexus-agents-watch-'));
    await writeFile(path.join(work, 'aspect.json'), aspect('watched'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('reports nothing after it was stopped, not even an edit made just before', async () => {
    const member = await readMember(work);
    const stopped: string[] = [];
    const unwatch = watchAgents([member], (_m, file) => stopped.push(file));
    // A second watcher, kept: its report comes after the first one's would have (same settle time,
    // its timer set after the first's by the same event), so waiting for it waits long enough.
    let keptReport: () => void = () => undefined;
    const kept = new Promise<void>((resolve) => (keptReport = resolve));
    const keep = watchAgents([member], () => keptReport());
    // A plain watcher made last sees each event after both of theirs: the first watcher's settle
    // timer is pending when it stops the first watcher, as Ctrl-C right after an edit does.
    const raw = watch(work, () => {
      raw.close();
      unwatch();
    });
    await writeFile(path.join(work, 'aspect.json'), aspect('watched'));
    await kept;
    keep();
    expect(stopped).toEqual([]);
  });
});
