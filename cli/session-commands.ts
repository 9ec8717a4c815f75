import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import {
  AspectName,
  Content,
  DecimalId,
  RewindRequest,
  SessionId,
  type ControlState,
} from '../protocol/index.js';
import { parseWaitSeconds } from './arguments.js';
import { connectionFromEnv } from './connection.js';
import { print, table } from './output.js';
import { schemaArgument } from './usage.js';

const threadBody = (thread?: string) => (thread ? { thread_id: thread } : {});
const aspectArgument = schemaArgument(AspectName);
const entryArgument = schemaArgument(RewindRequest.shape.target_entry_id);
const threadOption = schemaArgument(DecimalId);

/** The broker's default wait for a runtime's answer (B.12), also the CLI's. */
const DEFAULT_WAIT_S = 30;

interface ControlOptions {
  json?: boolean;
  wait?: number;
}

/**
 * Sends a session control request and prints its outcome with `render`. The broker answers 202
 * when the runtime has not answered within `wait_s`; then the request id is printed, to follow with
 * `nexus session request`. The HTTP timeout outlasts the broker's wait.
 */
async function control<T>(
  method: 'GET' | 'POST',
  path: string,
  body: unknown,
  options: ControlOptions,
  render: (reply: T) => string,
): Promise<void> {
  const waitS = options.wait ?? DEFAULT_WAIT_S;
  const client = new BrokerClient({ ...connectionFromEnv(), timeoutMs: (waitS + 15) * 1000 });
  const reply = await client.call<T | { request_id: string; state: 'pending' }>(
    method,
    `${path}?wait_s=${waitS}`,
    body,
  );
  if (reply.status === 202) {
    const pending = reply.body as { request_id: string; state: 'pending' };
    print(
      pending,
      options.json,
      () =>
        `pending: the runtime has not answered within ${waitS} s; follow it with ` +
        `nexus session request <aspect> ${pending.request_id}`,
    );
    return;
  }
  print(reply.body, options.json, () => render(reply.body as T));
}

function describeState(state: ControlState): string {
  if (state.state === 'failed')
    return `failed: ${state.error?.code ?? 'error'}: ${state.error?.message ?? ''}`;
  if (state.state === 'pending') return `pending (${state.action})`;
  return `done (${state.action}): ${JSON.stringify(state.result)}`;
}

/** `nexus session ls/tree/rewind/fork/activate/compact/summarise-branch/request`: session control through the broker (admin). */
export function registerSessionCommands(program: Command): void {
  const session = program.command('session').description("inspect and steer an aspect's sessions (admin)");
  const aspectPath = (aspect: string) => `/v1/aspects/${aspect}`;
  const withControlOptions = (command: Command) =>
    command
      .option('--json', 'print JSON')
      .option(
        '--wait <seconds>',
        `how long the broker waits for the runtime's answer (default ${DEFAULT_WAIT_S})`,
        parseWaitSeconds,
      );

  withControlOptions(
    session
      .command('ls')
      .argument('<aspect>', 'aspect name', aspectArgument)
      .description("list the aspect's sessions"),
  ).action((aspect: string, options: ControlOptions) =>
    control<{
      sessions: { sid: string; entries: number; tokens: number; window: number; active?: boolean }[];
    }>('GET', `${aspectPath(aspect)}/sessions`, undefined, options, (reply) =>
      table(
        ['SESSION', 'ENTRIES', 'TOKENS', 'ACTIVE'],
        reply.sessions.map((s) => [
          s.sid,
          String(s.entries),
          `${s.tokens}/${s.window}`,
          s.active ? 'active' : '-',
        ]),
        'no sessions yet',
      ),
    ),
  );

  withControlOptions(
    session
      .command('tree')
      .argument('<aspect>', 'aspect name', aspectArgument)
      .argument('[sid]', 'global, a thread id, or fork-ID', schemaArgument(SessionId), 'global')
      .description('print the entries of a session with their parents; * marks the head'),
  ).action((aspect: string, sid: string, options: ControlOptions) =>
    control<{
      head: string;
      entries: { id: string; parent_id: string | null; kind: string; preview: string }[];
    }>('GET', `${aspectPath(aspect)}/sessions/${sid}/tree`, undefined, options, (reply) =>
      reply.entries
        .map(
          (e) =>
            `${e.id === reply.head ? '*' : ' '} ${e.id} ← ${e.parent_id ?? 'root'}  ${e.kind}  ${e.preview.replace(/\s+/g, ' ').slice(0, 80)}`,
        )
        .join('\n'),
    ),
  );

  withControlOptions(
    session
      .command('rewind')
      .argument('<aspect>', 'aspect name', aspectArgument)
      .argument('<entry>', 'the entry id the head moves to', entryArgument)
      .option('--thread <id>', 'the thread (thread mode)', threadOption)
      .option('--no-summary', 'do not write a branch summary of the departed branch')
      .description('move the head back to an earlier entry; nothing is deleted'),
  ).action((aspect: string, entry: string, options: ControlOptions & { thread?: string; summary: boolean }) =>
    control<{ head: string; branch_summary_id?: string }>(
      'POST',
      `${aspectPath(aspect)}/rewind`,
      { target_entry_id: entry, emit_branch_summary: options.summary, ...threadBody(options.thread) },
      options,
      (reply) => `head is now ${reply.head}${reply.branch_summary_id ? ' (branch summary written)' : ''}`,
    ),
  );

  withControlOptions(
    session
      .command('fork')
      .argument('<aspect>', 'aspect name', aspectArgument)
      .argument('<entry>', 'the source entry: the fork holds a copy of its ancestry', entryArgument)
      .option('--thread <id>', 'the source thread (thread mode); the fork is a new thread', threadOption)
      .option(
        '--seed <text>',
        'replace the source (a turn.user entry) with this message, sent from you',
        schemaArgument(Content),
      )
      .description(
        'copy the ancestry of an entry into a new thread (thread mode) or a new active global session',
      ),
  ).action((aspect: string, entry: string, options: ControlOptions & { thread?: string; seed?: string }) =>
    control<{ thread_id?: string; session?: string; head: string | null }>(
      'POST',
      `${aspectPath(aspect)}/fork`,
      {
        source_entry_id: entry,
        ...threadBody(options.thread),
        ...(options.seed !== undefined ? { seed_user_message: options.seed } : {}),
      },
      options,
      (reply) =>
        reply.thread_id
          ? `forked into thread ${reply.thread_id} (head ${reply.head ?? 'none'})`
          : `forked into ${reply.session ?? '?'}, now the active session (head ${reply.head ?? 'none'})`,
    ),
  );

  withControlOptions(
    session
      .command('activate')
      .argument('<aspect>', 'aspect name', aspectArgument)
      .argument('<sid>', 'global or fork-ID', schemaArgument(SessionId))
      .description('make a global session the active one (global mode)'),
  ).action((aspect: string, sid: string, options: ControlOptions) =>
    control<{ session: string; head: string | null }>(
      'POST',
      `${aspectPath(aspect)}/activate`,
      { sid },
      options,
      (reply) => `${reply.session} is now the active session`,
    ),
  );

  withControlOptions(
    session
      .command('compact')
      .argument('<aspect>', 'aspect name', aspectArgument)
      .option('--thread <id>', 'the thread (thread mode)', threadOption)
      .description('compact the active session now'),
  ).action((aspect: string, options: ControlOptions & { thread?: string }) =>
    control<{ compaction_id: string; tokens_before: number; tokens_after: number }>(
      'POST',
      `${aspectPath(aspect)}/compact`,
      threadBody(options.thread),
      options,
      (reply) => `compacted: ${reply.tokens_before} → ${reply.tokens_after} tokens (${reply.compaction_id})`,
    ),
  );

  withControlOptions(
    session
      .command('summarise-branch')
      .argument('<aspect>', 'aspect name', aspectArgument)
      .argument('<entry>', 'the first entry of the branch to summarise', entryArgument)
      .option('--thread <id>', 'the thread (thread mode)', threadOption)
      .description('write a branch summary of the branch from an entry to its leaf (B.12)'),
  ).action((aspect: string, entry: string, options: ControlOptions & { thread?: string }) =>
    control<{ branch_summary_id: string }>(
      'POST',
      `${aspectPath(aspect)}/summarise-branch`,
      { from_entry_id: entry, ...threadBody(options.thread) },
      options,
      (reply) => `branch summary written (${reply.branch_summary_id})`,
    ),
  );

  session
    .command('request')
    .argument('<aspect>', 'aspect name', aspectArgument)
    .argument('<request_id>', 'the id a pending control request printed', schemaArgument(DecimalId))
    .option('--json', 'print JSON')
    .description('show the state of a control request: pending, done with its result, or failed')
    .action(async (aspect: string, requestId: string, options: { json?: boolean }) => {
      const state = await new BrokerClient(connectionFromEnv()).get<ControlState>(
        `${aspectPath(aspect)}/control/${requestId}`,
      );
      print(state, options.json, () => describeState(state));
    });
}
