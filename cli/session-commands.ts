import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import { AspectName, DecimalId, SessionId, parseOrThrow } from '../protocol/index.js';
import { connectionFromEnv } from './client-commands.js';

function print(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

const threadBody = (thread?: string) => (thread ? { thread_id: parseOrThrow(DecimalId, thread) } : {});

/** `nexus session ls/tree/rewind/fork/activate/compact`: session control through the broker (admin). */
export function registerSessionCommands(program: Command): void {
  const session = program.command('session').description("inspect and steer an aspect's sessions (admin)");
  const client = () => new BrokerClient(connectionFromEnv());

  session
    .command('ls')
    .argument('<aspect>', 'aspect name')
    .option('--json', 'print JSON')
    .description("list the aspect's sessions")
    .action(async (aspect: string, options: { json?: boolean }) => {
      const reply = await client().get<{
        sessions: { sid: string; entries: number; tokens: number; window: number; active?: boolean }[];
      }>(`/v1/aspects/${parseOrThrow(AspectName, aspect)}/sessions`);
      print(reply, options.json ?? false, () =>
        reply.sessions
          .map(
            (s) =>
              `${s.sid}\t${s.entries} entries\t${s.tokens}/${s.window} tokens${s.active ? '\tactive' : ''}`,
          )
          .join('\n'),
      );
    });

  session
    .command('tree')
    .argument('<aspect>', 'aspect name')
    .argument('[sid]', 'global, a thread id, or fork-ID', 'global')
    .option('--json', 'print JSON')
    .description('print the entries of a session with their parents; * marks the head')
    .action(async (aspect: string, sid: string, options: { json?: boolean }) => {
      const reply = await client().get<{
        head: string;
        entries: { id: string; parent_id: string | null; kind: string; preview: string }[];
      }>(`/v1/aspects/${parseOrThrow(AspectName, aspect)}/sessions/${parseOrThrow(SessionId, sid)}/tree`);
      print(reply, options.json ?? false, () =>
        reply.entries
          .map(
            (e) =>
              `${e.id === reply.head ? '*' : ' '} ${e.id} ← ${e.parent_id ?? 'root'}  ${e.kind}  ${e.preview.replace(/\s+/g, ' ').slice(0, 80)}`,
          )
          .join('\n'),
      );
    });

  session
    .command('rewind')
    .argument('<aspect>', 'aspect name')
    .argument('<entry>', 'the entry id the head moves to')
    .option('--thread <id>', 'the thread (thread mode)')
    .option('--no-summary', 'do not write a branch summary of the departed branch')
    .option('--json', 'print JSON')
    .description('move the head back to an earlier entry; nothing is deleted')
    .action(
      async (
        aspect: string,
        entry: string,
        options: { thread?: string; summary: boolean; json?: boolean },
      ) => {
        const reply = await client().post<{ head: string; branch_summary_id?: string }>(
          `/v1/aspects/${parseOrThrow(AspectName, aspect)}/rewind`,
          {
            target_entry_id: entry,
            emit_branch_summary: options.summary,
            ...threadBody(options.thread),
          },
        );
        print(
          reply,
          options.json ?? false,
          () => `head is now ${reply.head}${reply.branch_summary_id ? ' (branch summary written)' : ''}`,
        );
      },
    );

  session
    .command('fork')
    .argument('<aspect>', 'aspect name')
    .argument('<entry>', 'the source entry: the fork holds a copy of its ancestry')
    .option('--thread <id>', 'the source thread (thread mode); the fork is a new thread')
    .option('--seed <text>', 'replace the source (a turn.user entry) with this message, sent from you')
    .option('--json', 'print JSON')
    .description(
      'copy the ancestry of an entry into a new thread (thread mode) or a new active global session',
    )
    .action(
      async (aspect: string, entry: string, options: { thread?: string; seed?: string; json?: boolean }) => {
        const reply = await client().post<{ thread_id?: string; session?: string; head: string | null }>(
          `/v1/aspects/${parseOrThrow(AspectName, aspect)}/fork`,
          {
            source_entry_id: entry,
            ...threadBody(options.thread),
            ...(options.seed !== undefined ? { seed_user_message: options.seed } : {}),
          },
        );
        print(reply, options.json ?? false, () =>
          reply.thread_id
            ? `forked into thread ${reply.thread_id} (head ${reply.head ?? 'none'})`
            : `forked into ${reply.session ?? '?'}, now the active session (head ${reply.head ?? 'none'})`,
        );
      },
    );

  session
    .command('activate')
    .argument('<aspect>', 'aspect name')
    .argument('<sid>', 'global or fork-ID')
    .option('--json', 'print JSON')
    .description('make a global session the active one (global mode)')
    .action(async (aspect: string, sid: string, options: { json?: boolean }) => {
      const reply = await client().post<{ session: string; head: string | null }>(
        `/v1/aspects/${parseOrThrow(AspectName, aspect)}/activate`,
        { sid: parseOrThrow(SessionId, sid) },
      );
      print(reply, options.json ?? false, () => `${reply.session} is now the active session`);
    });

  session
    .command('compact')
    .argument('<aspect>', 'aspect name')
    .option('--thread <id>', 'the thread (thread mode)')
    .option('--json', 'print JSON')
    .description('compact the active session now')
    .action(async (aspect: string, options: { thread?: string; json?: boolean }) => {
      const reply = await client().post<{
        compaction_id: string;
        tokens_before: number;
        tokens_after: number;
      }>(`/v1/aspects/${parseOrThrow(AspectName, aspect)}/compact`, threadBody(options.thread));
      print(
        reply,
        options.json ?? false,
        () => `compacted: ${reply.tokens_before} → ${reply.tokens_after} tokens (${reply.compaction_id})`,
      );
    });
}
