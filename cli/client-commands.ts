import type { Command } from 'commander';
import { BrokerClient, SocketClient } from '../client/index.js';
import { ConfigError, tokenSourceFromEnv } from '../platform/index.js';
import { AspectName, DecimalId, MintTokenRequest, TokenKind, parseOrThrow } from '../protocol/index.js';
import { DEFAULT_QUIET_S, printThreadReplies, waitSeconds } from './send-wait.js';

interface Connection {
  url: string;
  token: string;
}

/**
 * NEXUS_URL and the token (NEXUS_TOKEN_FILE, else NEXUS_TOKEN, else the `nexus dev` token file
 * `./.nexus/admin-token`), with the `nexus dev` URL by default (B.34). A missing token throws a
 * `ConfigError` naming what was looked for and where.
 */
export function connectionFromEnv(env = process.env): Connection {
  const url = env.NEXUS_URL ?? 'http://127.0.0.1:7888';
  return { url, token: tokenSourceFromEnv(env, { devDefault: true }).read() };
}

function print(value: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** Client commands: talk to a broker as the holder of NEXUS_TOKEN. */
export function registerClientCommands(program: Command): void {
  program
    .command('roster')
    .description('list the aspects the broker knows, with their status')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const client = new BrokerClient(connectionFromEnv());
      const { aspects } = await client.get<{
        aspects: { name: string; status: string; role: string; context_mode: string | null }[];
      }>('/v1/aspects');
      print({ aspects }, options.json ?? false, () =>
        aspects.length === 0
          ? 'no aspects registered'
          : aspects.map((a) => `${a.name}\t${a.status}\t${a.role}\t${a.context_mode ?? '-'}`).join('\n'),
      );
    });

  program
    .command('send')
    .description('send a message (to names, or into a thread); --wait prints the replies')
    .argument('[content]', 'the message text')
    .option('--to <names>', 'comma-separated aspect names or op:NAME')
    .option('--thread <id>', 'thread id to post into')
    .option(
      '--wait [seconds]',
      `print the thread's replies until SECONDS pass without one (default ${DEFAULT_QUIET_S})`,
    )
    .option('--json', 'print JSON')
    .action(
      async (
        text: string | undefined,
        options: { to?: string; thread?: string; wait?: true | string; json?: boolean },
      ) => {
        // `--wait "question"`: commander took the question as the wait's value (B.34's --wait[=S]).
        let content = text;
        let quietS = options.wait === undefined ? null : waitSeconds(options.wait);
        if (quietS === null && options.wait !== undefined && content === undefined) {
          content = options.wait as string;
          quietS = DEFAULT_QUIET_S;
        }
        if (content === undefined) throw new ConfigError("missing required argument 'content'");
        if (quietS === null && options.wait !== undefined)
          throw new ConfigError('--wait must be whole seconds from 1 to 86400');
        const to = options.to
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const thread = options.thread === undefined ? undefined : parseOrThrow(DecimalId, options.thread);
        const client = new BrokerClient(connectionFromEnv());
        const reply = await client.post<{ id: string; thread_id: string; held_for?: string[] }>(
          '/v1/messages',
          {
            content,
            ...(to ? { to } : {}),
            ...(thread ? { thread_id: thread } : {}),
          },
        );
        print(
          reply,
          options.json ?? false,
          () =>
            `sent ${reply.id} in thread ${reply.thread_id}${reply.held_for ? ` (held for ${reply.held_for.join(', ')})` : ''}`,
        );
        if (quietS !== null) await printThreadReplies(client, reply, { quietS, json: options.json ?? false });
      },
    );

  program
    .command('tail')
    .description('print every message on the bus as it is persisted (admin)')
    .option('--json', 'print JSON lines')
    .action(async (options: { json?: boolean }) => {
      const { url, token } = connectionFromEnv();
      const socket = new SocketClient({
        url,
        token,
        onFrame: (frame) => {
          if (frame.type === 'welcome') socket.raw({ type: 'subscribe', threads: '*' });
          if (frame.type === 'error') process.stderr.write(`nexus: ${frame.code}: ${frame.message}\n`);
          if (frame.type !== 'observed') return;
          const m = frame.message;
          process.stdout.write(
            options.json
              ? `${JSON.stringify(m)}\n`
              : `[${m.thread_id}] ${m.from} → ${m.to.join(',') || '(thread)'}: ${m.content}\n`,
          );
        },
      });
      await new Promise<void>((resolve) => process.once('SIGINT', resolve));
      socket.close();
    });

  const token = program.command('token').description('mint, list and revoke tokens (admin)');
  token
    .command('mint')
    .description('mint a token; the value is printed once')
    .argument('<kind>', 'aspect | worker | admin')
    .option('--aspect <name>', 'the aspect an aspect token acts as')
    .option('--name <name>', 'a name (required for admin tokens)')
    .option('--admin', 'give an aspect token the admin scope (the frame)')
    .option('--json', 'print JSON')
    .action(
      async (kind: string, options: { aspect?: string; name?: string; admin?: boolean; json?: boolean }) => {
        const body = parseOrThrow(MintTokenRequest, {
          kind: parseOrThrow(TokenKind, kind),
          ...(options.aspect ? { aspect: options.aspect } : {}),
          ...(options.name ? { name: options.name } : {}),
          ...(options.admin ? { admin: true } : {}),
        });
        const reply = await new BrokerClient(connectionFromEnv()).post<{ id: string; token: string }>(
          '/v1/admin/tokens',
          body,
        );
        print(reply, options.json ?? false, () => reply.token);
      },
    );
  token
    .command('ls')
    .description('list tokens (never their values)')
    .option('--aspect <name>', 'only tokens of this aspect')
    .option('--json', 'print JSON')
    .action(async (options: { aspect?: string; json?: boolean }) => {
      const query = options.aspect
        ? `?aspect=${encodeURIComponent(parseOrThrow(AspectName, options.aspect))}`
        : '';
      const reply = await new BrokerClient(connectionFromEnv()).get<{
        tokens: { id: string; kind: string; aspect?: string; name?: string; revoked_at?: string }[];
      }>(`/v1/admin/tokens${query}`);
      print(reply, options.json ?? false, () =>
        reply.tokens
          .map(
            (t) => `${t.id}\t${t.kind}\t${t.aspect ?? t.name ?? '-'}\t${t.revoked_at ? 'revoked' : 'live'}`,
          )
          .join('\n'),
      );
    });
  token
    .command('revoke')
    .description('revoke a token by id')
    .argument('<id>', 'token id')
    .action(async (id: string) => {
      await new BrokerClient(connectionFromEnv()).delete(`/v1/admin/tokens/${parseOrThrow(DecimalId, id)}`);
      process.stdout.write(`revoked ${id}\n`);
    });
}
