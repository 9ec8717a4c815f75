/**
 * B.45: the state in a home belongs to one database, named by the broker at registration (the
 * register reply's `nexus_instance`). Against another one, whose message ids start again, that
 * state would make the runtime skip new messages as already processed: at start it is moved
 * aside, with a warning, and the runtime begins afresh. A change while running cannot be mended in
 * place (turns may be under way, the inbox holds the old database's ids): the runtime asks for a
 * restart and does not connect.
 */
import type { Logger } from '../../platform/index.js';
import { discardDatabaseState, saveState, type RuntimeState } from './state.js';

export interface DatabaseIdentityDeps {
  home: string;
  /** The runtime's state, updated in place. */
  state: RuntimeState;
  logger: Logger;
  /** True once a socket was welcomed: messages may have been taken since the start. */
  running(): boolean;
  /** Closes open sessions before their files move, and starts the inbox again at 0. */
  startAfresh: { closeSessions(): Promise<void>; restartInbox(): void };
  /** Asks the process to restart; the next start moves the old state aside. */
  restartNeeded?(line: string): void;
}

/** Records the database `instance` as this home's; throws when the runtime must restart first. */
export async function adoptDatabase(instance: string, deps: DatabaseIdentityDeps): Promise<void> {
  const { state, logger } = deps;
  if (state.nexus_instance === instance) return;
  if (state.nexus_instance !== undefined) {
    const change = { was: state.nexus_instance, now: instance };
    if (deps.running()) {
      const line =
        "the broker's database changed while this runtime ran; a restart discards the old state (B.45)";
      logger.error(change, line);
      deps.restartNeeded?.(line);
      // Not connected again: a failed registration, retried with backoff until the restart.
      throw new Error(line);
    }
    await deps.startAfresh.closeSessions();
    const movedTo = await discardDatabaseState(deps.home);
    logger.warn(
      { ...change, movedTo },
      "the broker's database is not the one this home's state came from: state.json and session/ moved aside (B.45)",
    );
    state.last_processed_id = '0';
    deps.startAfresh.restartInbox();
  }
  state.nexus_instance = instance;
  await saveState(deps.home, state);
}
