import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import {
  AspectName,
  Content,
  DecimalId,
  DispatchRequest,
  LimitsRequest,
  type AbortReply,
  type DispatchInfo,
  type DispatchReply,
  type LimitsReply,
  type QueueReply,
} from '../protocol/index.js';
import { intInRange, parsePositiveInt } from './arguments.js';
import { connectionFromEnv } from './connection.js';
import { print, table } from './output.js';
import { UsageError, checkedInput, schemaArgument } from './usage.js';

function client(): BrokerClient {
  return new BrokerClient(connectionFromEnv());
}

function parseJsonOption(value: string, option: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new UsageError(`${option}: is not valid JSON`);
  }
}

/** `--h`: a ceiling, or `default` (aspects + 1). */
function parseCeiling(value: string): number | 'default' {
  return value === 'default' ? value : parsePositiveInt(value);
}

const dispatchPath = (id: string) => `/v1/hands/dispatches/${id}`;
const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ');

const DISPATCH_HEADER = ['DISPATCH', 'STATE', 'HAND', 'ATTEMPT', 'STATUS', 'SUMMARY'];

function dispatchRow(info: DispatchInfo): string[] {
  return [
    info.id,
    info.state,
    `${info.target}/${info.hand}`,
    String(info.attempt),
    info.result?.status ?? '-',
    info.result ? oneLine(info.result.summary) : '-',
  ];
}

/** After this long still queued, `--wait` says that no worker has claimed the dispatch (B.91). */
const UNCLAIMED_HINT_S = 10;
const POLL_MS = 500;

/** Follows a dispatch until it is done, showing progress on stderr, or until `timeoutS` passes. */
async function waitForResult(
  broker: BrokerClient,
  id: string,
  timeoutS: number | undefined,
): Promise<{ info: DispatchInfo; timedOut: boolean }> {
  const started = Date.now();
  let shown = '';
  let hinted = false;
  for (;;) {
    const info = await broker.get<DispatchInfo>(dispatchPath(id));
    if (info.state === 'done') return { info, timedOut: false };
    // Long waits show progress (section 1): each change of state, on stderr.
    const progress = info.state === 'running' ? `running, attempt ${info.attempt}` : info.state;
    if (progress !== shown) {
      process.stderr.write(`${id}\t${progress}\n`);
      shown = progress;
    }
    const elapsedS = (Date.now() - started) / 1000;
    if (!hinted && info.state === 'queued' && elapsedS >= UNCLAIMED_HINT_S) {
      process.stderr.write(
        `${id}\tstill queued after ${UNCLAIMED_HINT_S} s: no worker has claimed it (is \`nexus worker\` running?)\n`,
      );
      hinted = true;
    }
    if (timeoutS !== undefined && elapsedS >= timeoutS) return { info, timedOut: true };
    const leftMs = timeoutS === undefined ? POLL_MS : timeoutS * 1000 - (Date.now() - started);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(POLL_MS, leftMs))));
  }
}

/** `nexus hand dispatch/status/abort` and `nexus queue ls/limits` (SPEC section 6, B.76, B.91). */
export function registerHandCommands(program: Command): void {
  const hand = program.command('hand').description('invoke Hands and follow their dispatches');

  hand
    .command('dispatch', { isDefault: true })
    .description("queue a dispatch of TARGET's Hand HAND; prints the dispatch id, or the refusal")
    .argument('<target>', 'the aspect that offers the Hand', schemaArgument(AspectName))
    .argument('<hand>', 'the Hand name', schemaArgument(AspectName))
    .argument('<content>', 'what to ask of the Hand', schemaArgument(Content))
    .option('--input <json>', 'structured input, checked against the Hand input_schema')
    .option('--thread <id>', 'post the invocation in this thread', schemaArgument(DecimalId))
    .option(
      '--deadline <seconds>',
      'deadline once started (default: the Hand timeout_s, at most 7200)',
      parsePositiveInt,
    )
    .option('--wait', 'wait for the result and print it')
    .option('--timeout <seconds>', 'with --wait: stop waiting after this long (exit 1)', parsePositiveInt)
    .option('--json', 'print JSON')
    .action(
      async (
        target: string,
        handName: string,
        content: string,
        options: {
          input?: string;
          thread?: string;
          deadline?: number;
          wait?: boolean;
          timeout?: number;
          json?: boolean;
        },
      ) => {
        const body = checkedInput(DispatchRequest, {
          target,
          hand: handName,
          content,
          ...(options.input === undefined ? {} : { input: parseJsonOption(options.input, '--input') }),
          ...(options.thread === undefined ? {} : { thread_id: options.thread }),
          ...(options.deadline === undefined ? {} : { deadline_s: options.deadline }),
        });
        const broker = client();
        const reply = await broker.post<DispatchReply>('/v1/hands/dispatch', body);
        if (reply.state === 'rejected') {
          print(reply, options.json, () =>
            table(
              ['STATE', 'STATUS', 'SUMMARY'],
              [['rejected', reply.result.status, oneLine(reply.result.summary)]],
              '',
            ),
          );
          process.exitCode = 3;
          return;
        }
        if (!options.wait && options.timeout === undefined)
          return print(reply, options.json, () =>
            table(['DISPATCH', 'STATE'], [[reply.dispatch_id, 'queued']], ''),
          );
        const { info, timedOut } = await waitForResult(broker, reply.dispatch_id, options.timeout);
        if (timedOut)
          throw new Error(
            `timed out after ${options.timeout} s with dispatch ${info.id} still ${info.state}; it goes on ` +
              `(nexus hand status ${info.id}; nexus hand abort ${info.id})`,
          );
        print(info, options.json, () => table(DISPATCH_HEADER, [dispatchRow(info)], ''));
        if (info.result?.status !== 'ok') process.exitCode = 3;
      },
    );

  hand
    .command('status')
    .description('show a dispatch: state, attempt and result')
    .argument('<id>', 'dispatch id', schemaArgument(DecimalId))
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const info = await client().get<DispatchInfo>(dispatchPath(id));
      print(info, options.json, () => table(DISPATCH_HEADER, [dispatchRow(info)], ''));
    });

  hand
    .command('abort')
    .description('abort a dispatch: a queued one ends at once, a running one at its next heartbeat')
    .argument('<id>', 'dispatch id', schemaArgument(DecimalId))
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      const reply = await client().post<AbortReply>(`${dispatchPath(id)}/abort`, {});
      print(reply, options.json, () =>
        table(['DISPATCH', 'STATE', 'STATUS'], [[id, reply.state, reply.result?.status ?? '-']], ''),
      );
    });

  const queue = program.command('queue').description('the Hand dispatch queue (admin)');

  queue
    .command('ls', { isDefault: true })
    .description('list queued and running dispatches, oldest first')
    .option('--target <aspect>', 'only dispatches to this aspect', schemaArgument(AspectName))
    .option('--limit <n>', 'at most this many (default 100, at most 1000)', intInRange(1, 1000))
    .option('--json', 'print JSON')
    .action(async (options: { target?: string; limit?: number; json?: boolean }) => {
      const query = new URLSearchParams();
      if (options.target) query.set('target', options.target);
      if (options.limit !== undefined) query.set('limit', String(options.limit));
      const queue = await client().get<QueueReply>(`/v1/hands/queue?${query}`);
      print(queue, options.json, () =>
        [
          `N ${queue.n}  H ${queue.h}  running ${queue.running}  queued ${queue.queued}`,
          table(
            ['DISPATCH', 'STATE', 'HAND', 'DISPATCHER', 'WORKER'],
            queue.dispatches.map((d) => [
              d.id,
              d.state,
              `${d.target}/${d.hand}`,
              d.dispatcher,
              d.worker_id ?? '-',
            ]),
            'no dispatches queued or running',
          ),
        ].join('\n'),
      );
    });

  queue
    .command('limits')
    .description('show the pool limits N and H, or change them with --n / --h (H "default": aspects + 1)')
    .option('--n <n>', 'soft cap N', parsePositiveInt)
    .option('--h <h>', 'hard ceiling H, or "default"', parseCeiling)
    .option('--json', 'print JSON')
    .action(async (options: { n?: number; h?: number | 'default'; json?: boolean }) => {
      const broker = client();
      let limits: LimitsReply;
      if (options.n === undefined && options.h === undefined) {
        limits = await broker.get<LimitsReply>('/v1/hands/limits');
      } else {
        const body = checkedInput(LimitsRequest, {
          ...(options.n === undefined ? {} : { n: options.n }),
          ...(options.h === undefined ? {} : { h: options.h === 'default' ? null : options.h }),
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
