import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import {
  AlarmPath,
  AlarmRequest,
  WireError,
  firstIssueText,
  type AlarmListReply,
  type AlarmReply,
} from '../protocol/index.js';
import { connectionFromEnv } from './connection.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * `--at`: an ISO-8601 time with an offset, or `+N` with a unit s, m, h or d from now. Bad input is
 * thrown as a wire-style `invalid_request`, so the command ends with one line like any refusal.
 */
export function parseAlarmTime(value: string, now = Date.now()): string {
  const relative = /^\+(\d{1,9})([smhd])$/.exec(value);
  if (relative) {
    const seconds = Number(relative[1]) * (UNIT_SECONDS[relative[2] as string] as number);
    return new Date(now + seconds * 1000).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value))) return value;
  throw new WireError(
    'invalid_request',
    '--at: must be an ISO-8601 time with an offset (2026-05-01T09:00:00Z) or +N[s|m|h|d]',
  );
}

function parseSeconds(value: string): number {
  if (!/^\d{1,9}$/.test(value))
    throw new WireError('invalid_request', '--every: must be a whole number of seconds');
  return Number(value);
}

/** The option each body field comes from, so a refusal names what the user typed. */
const OPTION_OF: Record<string, string> = {
  to: '--to',
  at: '--at',
  every_s: '--every',
  thread_id: '--thread',
  content: 'CONTENT',
};

function alarmBody(content: string, options: { to?: string; at?: string; every?: string; thread?: string }) {
  if (options.to === undefined)
    throw new WireError('invalid_request', '--to: is required (comma-separated aspect names or op:NAME)');
  const result = AlarmRequest.safeParse({
    to: options.to
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    content,
    ...(options.thread === undefined ? {} : { thread_id: options.thread }),
    ...(options.at === undefined ? {} : { at: parseAlarmTime(options.at) }),
    ...(options.every === undefined ? {} : { every_s: parseSeconds(options.every) }),
  });
  if (result.success) return result.data;
  const text = firstIssueText(result.error);
  const field = /^[a-z_]+/.exec(text)?.[0] ?? '';
  const message =
    field === 'at' && text.endsWith('give at, every_s or both')
      ? 'give --at TIME, --every S or both'
      : text.replace(/^[a-z_]+/, OPTION_OF[field] ?? field);
  throw new WireError('invalid_request', message);
}

function print(value: unknown, json: boolean | undefined, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** `nexus alarm add/ls/rm` (B.27, B.91): timed `system` messages from the caller. */
export function registerAlarmCommands(program: Command): void {
  const alarm = program
    .command('alarm')
    .description('timed messages: each firing is a system message from you, sent exactly once');

  alarm
    .command('add')
    .description('add an alarm that sends CONTENT to --to at --at, every --every seconds, or both')
    .argument('<content>', 'the message text')
    .option('--to <names>', 'comma-separated recipients: aspect names or op:NAME (yourself too); required')
    .option('--at <time>', 'first firing: an ISO-8601 time with offset, or +N[s|m|h|d] from now')
    .option('--every <seconds>', 'fire again every S seconds (at least 10)')
    .option('--thread <id>', 'post into this thread (default: a new thread per firing)')
    .option('--json', 'print JSON')
    .action(
      async (
        content: string,
        options: { to?: string; at?: string; every?: string; thread?: string; json?: boolean },
      ) => {
        const body = alarmBody(content, options);
        const reply = await new BrokerClient(connectionFromEnv()).post<AlarmReply>('/v1/alarms', body);
        print(reply, options.json, () => `alarm ${reply.id}, next at ${reply.next_at}`);
      },
    );

  alarm
    .command('ls')
    .description('list your alarms (an admin sees every alarm)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const reply = await new BrokerClient(connectionFromEnv()).get<AlarmListReply>('/v1/alarms');
      print(reply, options.json, () =>
        reply.alarms.length === 0
          ? 'no alarms'
          : [
              'ID\tNEXT_AT\tEVERY_S\tFIRED\tOWNER\tTO\tCONTENT',
              ...reply.alarms.map((a) =>
                [
                  a.id,
                  a.next_at ?? 'done',
                  a.every_s ?? '-',
                  a.fired,
                  a.owner,
                  a.to.join(','),
                  a.content.replace(/\s+/g, ' ').slice(0, 60),
                ].join('\t'),
              ),
            ].join('\n'),
      );
    });

  alarm
    .command('rm')
    .description('delete an alarm (yours, or any as an admin)')
    .argument('<id>', 'the alarm id')
    .action(async (id: string) => {
      const checked = AlarmPath.safeParse({ id });
      if (!checked.success)
        throw new WireError('invalid_request', `ID: ${firstIssueText(checked.error).replace(/^id: /, '')}`);
      await new BrokerClient(connectionFromEnv()).delete(`/v1/alarms/${checked.data.id}`);
      process.stdout.write(`removed alarm ${checked.data.id}\n`);
    });
}
