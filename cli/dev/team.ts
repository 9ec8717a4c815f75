/**
 * The team `nexus dev` runs: one aspect per folder of `--agents` holding an `aspect.json`. Each
 * file is checked up front with the runtime's own loader, so a bad one stops the start with the
 * file, the field path and the reason instead of a runtime dying later.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { AspectConfig } from '../../protocol/index.js';
import { ConfigError } from '../../platform/index.js';
import { HomeError, loadHome } from '../../runtime/home/home.js';
import { parseScript, ScriptError } from '../../runtime/providers/scripted.js';
import { shown } from './dev-paths.js';

export interface TeamMember {
  name: string;
  /** The folder in `--agents` the home is filled from (never written, B.45). */
  source: string;
  config: AspectConfig;
}

/** The aspects in `agentsDir`, in name order; [] when the folder has none. */
export async function discoverTeam(agentsDir: string): Promise<TeamMember[]> {
  let entries;
  try {
    entries = await readdir(agentsDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const team: TeamMember[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const source = path.join(agentsDir, entry.name);
    if ((await readdir(source)).includes('aspect.json')) team.push(await readMember(source));
  }
  return checkTeam(team);
}

/** One home folder of `--agents`, checked as the runtime will check it; ConfigError when bad. */
export async function readMember(source: string): Promise<TeamMember> {
  try {
    const home = await loadHome(source);
    parseScript(home.script, `${source}/script.json`);
    return { name: home.config.name, source, config: home.config };
  } catch (err) {
    if (err instanceof HomeError || err instanceof ScriptError)
      throw new ConfigError(shownError(err.message));
    throw err;
  }
}

function shownError(message: string): string {
  return message.replace(/^(\/[^:]+)/, (file) => shown(file));
}

function checkTeam(team: TeamMember[]): TeamMember[] {
  const seen = new Map<string, string>();
  for (const member of team) {
    const other = seen.get(member.name);
    if (other)
      throw new ConfigError(
        `${shown(member.source)}/aspect.json: name: "${member.name}" is also the name in ${shown(other)}/aspect.json`,
      );
    seen.set(member.name, member.source);
  }
  const frames = team.filter((m) => m.config.role === 'frame');
  if (frames.length > 1)
    throw new ConfigError(
      `at most one frame per team (B.4): ${frames.map((f) => `${shown(f.source)}/aspect.json`).join(' and ')} both say role "frame"`,
    );
  return team;
}
