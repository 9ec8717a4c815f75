/**
 * Under `nexus dev`, editing a file that `--config-from` copies (aspect.json, the identity
 * documents, script.json) in `--agents` restarts that aspect's runtime, which copies it afresh.
 * The new files are checked first: a bad one is reported and the runtime keeps running on the old
 * ones. A new name or role needs new tokens, so it asks for a restart of `nexus dev` instead.
 */
import { watch, type FSWatcher } from 'node:fs';
import { CONFIG_FILES } from '../agent-command.js';
import type { TeamMember } from './team.js';

const SETTLE_MS = 300;

/** Calls `onChange(member, file)` once edits to a member's config files have settled. */
export function watchAgents(
  team: TeamMember[],
  onChange: (member: TeamMember, file: string) => void,
): () => void {
  const watchers: FSWatcher[] = [];
  // One pending report per member; cleared when the watching stops, so an edit just before Ctrl-C
  // reports nothing once the supervisor is stopping.
  const timers = new Map<TeamMember, NodeJS.Timeout>();
  for (const member of team) {
    try {
      const watcher = watch(member.source, (_event, file) => {
        if (!file || !CONFIG_FILES.includes(file)) return;
        clearTimeout(timers.get(member));
        timers.set(
          member,
          setTimeout(() => {
            timers.delete(member);
            onChange(member, file);
          }, SETTLE_MS),
        );
      });
      watcher.on('error', () => watcher.close()); // the folder went away: nothing left to watch
      watchers.push(watcher);
    } catch {
      // A platform without file watching: changes need a restart of nexus dev, as docs/dev.md says.
    }
  }
  return () => {
    for (const watcher of watchers) watcher.close();
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
  };
}
