import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import {
  DispatchPath,
  DispatchRequest,
  LimitsRequest,
  WireError,
  parseOrThrow,
  type AbortReply,
  type DispatchInfo,
  type DispatchReply,
  type LimitsReply,
  type QueueReply,
} from '../protocol/index.js';
import { connectionFromEnv } from './client-commands.js';

function client(): BrokerClient {
  return new BrokerClient(connectionFromEnv());
}

function print(value: unknown, json: boolean | undefined, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

function parseJsonOption(value: string, option: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new WireError('invalid_request', `${option}: is not valid JSON`);
  }
}

function dispatchPath(id: string): string {
  return `/v1/hands/dispatches/${parseOrThrow(DispatchPath, { id }).id}`;
}

function describeResult(info: DispatchInfo): string {
  const result = info.result ? `\t${info.result.status}\t${info.result.summary}` : '';
  return `${info.id}\t${info.state}\t${info.target}/${info.hand}\tattempt ${info.attempt}${result}`;
}

/** `nexus hand dispatch/status/abort` and `nexus queue ls/limits` (SPEC section 6, B.76). */
export function registerHandCommands(program: Command): void {
  const hand = program.command('hand').description('invoke Hands and follow their dispatches');

  hand
    .command('dispatch', { isDefault: true })
    .description("queue a dispatch of TARGET's Hand HAND; prints the dispatch id, or the refusal")
    .argument('<target>', 'the aspect that offers the Hand')
    .argument('<hand>', 'the Hand name')
    .argument('<content>', 'what to ask of the Hand')
    .option('--input <json>', 'structured input, checked against the Hand input_schema')
    .option('--thread <id>', 'post the invocation in this thread')
    .option('--deadline <seconds>', 'deadline once started (default: the Hand timeout_s, at most 7200)')
    .option('--wait', 'wait for the result and print it')
    .option('--json', 'print JSON')
    .action(
      async (
        target: string,
        handName: string,
        content: string,
        options: { input?: string; thread?: string; deadline?: string; wait?: boolean; json?: boolean },
      ) => {
        const body = parseOrThrow(DispatchRequest, {
          target,
          hand: handName,
          content,
          ...(options.input === undefined ? {} : { input: parseJsonOption(options.input, '--input') }),
          ...(options.thread === undefined ? {} : { thread_id: options.thread }),
          ...(options.deadline === undefined ? {} : { deadline_s: Number(options.deadline) }),
        });
        const broker = client();
        const reply = await broker.post<DispatchReply>('/v1/hands/dispatch', body);
        if (reply.state === 'rejected') {
          print(reply, options.json, () => `rejected\t${reply.result.status}\t${reply.result.summary}`);
          process.exitCode = 3;
          return;
        }
        if (!options.wait) return print(reply, options.json, () => `${reply.dispatch_id}\tqueued`);
        let shown = '';
        for (;;) {
          const info = await broker.get<DispatchInfo>(dispatchPath(reply.dispatch_id));
          // Long waits show progress (section 1): each change of state, on stderr.
          const progress = info.state === 'running' ? `running, attempt ${info.attempt}` : info.state;
          if (info.state !== 'done' && progress !== shown) {
            process.stderr.write(`${reply.dispatch_id}\t${progress}\n`);
            shown = progress;
          }
          if (info.state === 'done') {
            print(info, options.json, () => describeResult(info));
            if (info.result?.status !== 'ok') process.exitCode = 3;
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      },
    );

  hand
    .command('status')
    .description('show a dispatch: state, attempt and result')
    .argument('<id>', 'dispatch id')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const info = await client().get<DispatchInfo>(dispatchPath(id));
      print(info, options.json, () => describeResult(info));
    });

  hand
    .command('abort')
    .description('abort a dispatch: a queued one ends at once, a running one at its next heartbeat')
    .argument('<id>', 'dispatch id')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const reply = await client().post<AbortReply>(`${dispatchPath(id)}/abort`, {});
      print(
        reply,
        options.json,
        () => `${id}\t${reply.state}${reply.result ? `\t${reply.result.status}` : ''}`,
      );
    });

  const queue = program.command('queue').description('the Hand dispatch queue (admin)');

  queue
    .command('ls', { isDefault: true })
    .description('list queued and running dispatches, oldest first')
    .option('--target <aspect>', 'only dispatches to this aspect')
    .option('--limit <n>', 'at most this many (default 100)')
    .option('--json', 'print JSON')
    .action(async (options: { target?: string; limit?: string; json?: boolean }) => {
      const query = new URLSearchParams();
      if (options.target) query.set('target', options.target);
      if (options.limit) query.set('limit', options.limit);
      const queue = await client().get<QueueReply>(`/v1/hands/queue?${query}`);
      print(queue, options.json, () =>
        [
          `N ${queue.n}  H ${queue.h}  running ${queue.running}  queued ${queue.queued}`,
          ...queue.dispatches.map(
            (d) => `${d.id}\t${d.state}\t${d.target}/${d.hand}\tfrom ${d.dispatcher}\t${d.worker_id ?? '-'}`,
          ),
        ].join('\n'),
      );
    });

  queue
    .command('limits')
    .description('show the pool limits N and H, or change them with --n / --h (H "default": aspects + 1)')
    .option('--n <n>', 'soft cap N')
    .option('--h <h>', 'hard ceiling H, or "default"')
    .option('--json', 'print JSON')
    .action(async (options: { n?: string; h?: string; json?: boolean }) => {
      const broker = client();
      let limits: LimitsReply;
      if (options.n === undefined && options.h === undefined) {
        limits = await broker.get<LimitsReply>('/v1/hands/limits');
      } else {
        const body = parseOrThrow(LimitsRequest, {
          ...(options.n === undefined ? {} : { n: Number(options.n) }),
          ...(options.h === undefined ? {} : { h: options.h === 'default' ? null : Number(options.h) }),
        });
        limits = (await broker.call<LimitsReply>('PUT', '/v1/hands/limits', body)).body;
      }
      print(limits, options.json, () =>
        [
          `N ${limits.n}`,
          `H ${limits.h}${limits.h_default ? ' (default)' : ''}`,
          `queued ${limits.queued}`,
          `running ${limits.running}`,
        ].join('\n'),
      );
    });
}
