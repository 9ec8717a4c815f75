import type { Command } from 'commander';
import { z } from 'zod';
import { BrokerClient } from '../client/index.js';
import {
  Address,
  AspectName,
  Content,
  DecimalId,
  MintTokenRequest,
  TokenKind,
  TokenName,
  type RosterEntry,
  type TokenInfo,
} from '../protocol/index.js';
import { print, table } from './output.js';
import { registerTailCommand } from './tail-command.js';
import { TOKEN_ID_LABEL, openTokenSecretWriter, parseSecretKey, parseSecretRef } from './token-secret.js';
import { UsageError, checkedInput, schemaArgument } from './usage.js';

/** `--to a,b`: names split on commas, each an aspect name or op:NAME. */
const AddressList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(Address).min(1, 'must name at least one recipient').max(100, 'must name at most 100 recipients'),
  );
import { DEFAULT_QUIET_S, printThreadReplies, waitSeconds } from './send-wait.js';
import { connectionFromEnv } from './connection.js';

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
      print({ aspects }, options.json, () =>
        table(
          ['NAME', 'STATUS', 'ROLE', 'CONTEXT'],
          aspects.map((a) => [a.name, a.status, a.role, a.context_mode ?? '-']),
          'no aspects registered',
        ),
      );
    });

  program
    .command('send')
    .description('send a message (to names, or into a thread); --wait prints the replies')
    .argument('[content]', 'the message text', schemaArgument(Content))
    .option('--to <names>', 'comma-separated aspect names or op:NAME', schemaArgument(AddressList))
    .option('--thread <id>', 'thread id to post into', schemaArgument(DecimalId))
    .option(
      '--wait [seconds]',
      `print the thread's replies until SECONDS pass without one (default ${DEFAULT_QUIET_S})`,
    )
    .option('--json', 'print JSON')
    .action(
      async (
        text: string | undefined,
        options: { to?: string[]; thread?: string; wait?: true | string; json?: boolean },
      ) => {
        // `--wait "question"`: commander took the question as the wait's value (B.34's --wait[=S]).
        let content = text;
        let quietS = options.wait === undefined ? null : waitSeconds(options.wait);
        if (quietS === null && options.wait !== undefined && content === undefined) {
          content = checkedInput(Content, options.wait);
          quietS = DEFAULT_QUIET_S;
        }
        if (content === undefined) throw new UsageError('missing argument <content>');
        if (quietS === null && options.wait !== undefined)
          throw new UsageError('--wait: must be whole seconds from 1 to 86400');
        const client = new BrokerClient(connectionFromEnv());
        const reply = await client.post<{ id: string; thread_id: string; held_for?: string[] }>(
          '/v1/messages',
          {
            content,
            ...(options.to ? { to: options.to } : {}),
            ...(options.thread ? { thread_id: options.thread } : {}),
          },
        );
        const held = reply.held_for && !options.json ? await heldFor(client, reply.held_for) : '';
        // With --wait and --json every line is one JSON object (the reply, then each message).
        if (options.json && quietS !== null) process.stdout.write(`${JSON.stringify(reply)}\n`);
        else print(reply, options.json, () => `sent ${reply.id} in thread ${reply.thread_id}${held}`);
        if (quietS !== null) await printThreadReplies(client, reply, { quietS, json: options.json ?? false });
      },
    );

  registerTailCommand(program);

  const token = program.command('token').description('mint, list and revoke tokens (admin)');
  token
    .command('mint')
    .description('mint a token; the value is printed once, or written into a Secret and never printed')
    .argument('<kind>', 'aspect | worker | admin', schemaArgument(TokenKind))
    .option('--aspect <name>', 'the aspect an aspect token acts as', schemaArgument(AspectName))
    .option('--name <name>', 'a name (required for admin tokens)')
    .option('--admin', 'give an aspect token the admin scope (the frame)')
    .option(
      '--into-secret <namespace/name>',
      'write the token into this Kubernetes Secret (created, or patched if it exists; never read) instead of printing it',
      parseSecretRef,
    )
    .option('--secret-key <key>', 'the Secret data key for --into-secret', parseSecretKey, 'token')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
With --into-secret the cluster is KUBECONFIG (default ~/.kube/config), else the pod's service
account, which needs create and patch on Secrets in that namespace. The Secret is labelled
${TOKEN_ID_LABEL} with the token's id.`,
    )
    .action(
      async (
        kind: string,
        options: {
          aspect?: string;
          name?: string;
          admin?: boolean;
          intoSecret?: { namespace: string; name: string };
          secretKey: string;
          json?: boolean;
        },
      ) => {
        const body = checkedInput(MintTokenRequest, {
          kind,
          ...(options.aspect ? { aspect: options.aspect } : {}),
          ...(options.name ? { name: options.name } : {}),
          ...(options.admin ? { admin: true } : {}),
        });
        const target = options.intoSecret ? { ...options.intoSecret, key: options.secretKey } : null;
        // The cluster's configuration is checked before a token exists that could be left behind.
        const writeSecret = target ? await openTokenSecretWriter(target) : null;
        const client = new BrokerClient(connectionFromEnv());
        const reply = await client.post<{ id: string; token: string }>('/v1/admin/tokens', body);
        if (!target || !writeSecret) {
          print(reply, options.json, () => reply.token);
          return;
        }
        await writeSecret(reply, client);
        const secret = { namespace: target.namespace, name: target.name, key: target.key };
        print(
          { id: reply.id, secret },
          options.json,
          () => `minted token ${reply.id} into Secret ${target.namespace}/${target.name} (key ${target.key})`,
        );
      },
    );
  token
    .command('ls')
    .description('list tokens (never their values)')
    .option('--aspect <name>', 'only tokens of this aspect', schemaArgument(AspectName))
    .option('--json', 'print JSON')
    .action(async (options: { aspect?: string; json?: boolean }) => {
      const query = options.aspect ? `?aspect=${encodeURIComponent(options.aspect)}` : '';
      const reply = await new BrokerClient(connectionFromEnv()).get<{
        tokens: { id: string; kind: string; aspect?: string; name?: string; revoked_at?: string }[];
      }>(`/v1/admin/tokens${query}`);
      print(reply, options.json, () =>
        table(
          ['ID', 'KIND', 'HOLDER', 'STATE'],
          reply.tokens.map((t) => [
            t.id,
            t.kind,
            t.aspect ?? t.name ?? '-',
            t.revoked_at ? 'revoked' : 'live',
          ]),
          'no tokens',
        ),
      );
    });
  token
    .command('revoke')
    .description('revoke a token by id, or every live token with a name')
    .argument('[id]', 'token id', schemaArgument(DecimalId))
    .option(
      '--name <name>',
      'instead of an id: revoke every live token with exactly this name (none live is no error)',
      schemaArgument(TokenName),
    )
    .action(async (id: string | undefined, options: { name?: string }) => {
      if (id === undefined && options.name === undefined)
        throw new UsageError('missing argument <id> (or --name)');
      if (id !== undefined && options.name !== undefined)
        throw new UsageError('give a token id or --name, not both');
      const client = new BrokerClient(connectionFromEnv());
      if (id !== undefined) {
        await client.delete(`/v1/admin/tokens/${id}`);
        process.stdout.write(`revoked ${id}\n`);
        return;
      }
      const name = options.name!;
      // Listed then revoked one by one: a retry after a failure revokes what is still live, so the
      // chart's pre-delete hook can run this again safely.
      const { tokens } = await client.get<{ tokens: TokenInfo[] }>(
        `/v1/admin/tokens?name=${encodeURIComponent(name)}`,
      );
      const live = tokens.filter((t) => !t.revoked_at);
      for (const t of live) await client.delete(`/v1/admin/tokens/${t.id}`);
      process.stdout.write(
        live.length > 0 ? live.map((t) => `revoked ${t.id}\n`).join('') : `no live token named ${name}\n`,
      );
    });
}

/**
 * ` (held for wren (down), nosuch (never registered))`: why each held recipient did not get the
 * message now, so a misspelt name is seen at once (issue 10's first hour). Best effort: without the
 * roster the names stand alone.
 */
async function heldFor(client: BrokerClient, names: string[]): Promise<string> {
  const roster = await client
    .get<{ aspects: RosterEntry[] }>('/v1/aspects')
    .then((r) => new Map(r.aspects.map((a) => [a.name, a])))
    .catch(() => null);
  const why = (name: string): string => {
    if (roster === null || name.startsWith('op:')) return name;
    const entry = roster.get(name);
    if (!entry?.registered_at) return `${name} (never registered)`;
    return `${name} (${entry.stay_down ? 'stayed down' : entry.status})`;
  };
  return ` (held for ${names.map(why).join(', ')})`;
}
