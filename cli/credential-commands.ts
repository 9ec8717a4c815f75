import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import {
  AspectName,
  CredentialName,
  StoreCredentialRequest,
  type CredentialInfo,
  type CredentialListReply,
} from '../protocol/index.js';
import { connectionFromEnv } from './connection.js';
import { print, table } from './output.js';
import { UsageError, checkedInput, schemaArgument } from './usage.js';

const nameArgument = schemaArgument(CredentialName);
const aspectArgument = schemaArgument(AspectName);

/** The value of `cred set`: all of stdin, less one trailing newline (what `echo` and editors add). */
async function readValueFromStdin(): Promise<string> {
  if (process.stdin.isTTY)
    process.stderr.write(
      'reading the value from stdin (end with Ctrl-D); pipe it in to keep it off screen\n',
    );
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/**
 * The value of `cred set --value-file PATH`: the file, less one trailing newline. For a mounted
 * Secret in a pod without a shell (the chart's post-install hook, B.69); the message names the
 * path, never the content.
 */
async function readValueFromFile(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new UsageError(
      `--value-file ${file} could not be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

function credentialPath(name: string): string {
  return `/v1/credentials/${encodeURIComponent(name)}`;
}

/** `nexus cred set/ls/grant/revoke/rm`: the broker-held credential store (admin, SPEC B.28). */
export function registerCredentialCommands(program: Command): void {
  const cred = program
    .command('cred')
    .description('store credentials in the broker and grant their use (admin)');

  cred
    .command('set')
    .description(
      'store or replace a credential; the value is read from stdin (or --value-file), never from arguments',
    )
    .argument('<name>', 'credential name (DNS-1123 subdomain, e.g. anthropic)', nameArgument)
    .option('--kind <kind>', 'what the credential is, e.g. api_key (default: secret)')
    .option('--description <text>', 'a note shown by cred ls')
    .option('--value-file <path>', 'read the value from this file (a mounted Secret) instead of stdin')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        options: { kind?: string; description?: string; valueFile?: string; json?: boolean },
      ) => {
        const path = credentialPath(name);
        const value =
          options.valueFile === undefined
            ? await readValueFromStdin()
            : await readValueFromFile(options.valueFile);
        if (value === '')
          throw new UsageError(
            options.valueFile === undefined
              ? `the value read from stdin is empty; pipe it in, e.g. printf %s "$VALUE" | nexus cred set ${name}`
              : `--value-file ${options.valueFile} is empty`,
          );
        const body = checkedInput(StoreCredentialRequest, {
          value,
          ...(options.kind === undefined ? {} : { kind: options.kind }),
          ...(options.description === undefined ? {} : { description: options.description }),
        });
        const client = new BrokerClient(connectionFromEnv());
        const reply = await client.call<CredentialInfo>('PUT', path, body);
        const created = reply.status === 201;
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ ...reply.body, created }, null, 2)}\n`
            : `stored ${reply.body.name} (${created ? 'created' : 'replaced'})\n`,
        );
      },
    );

  cred
    .command('ls')
    .description('list credentials: name, kind, granted aspects, description (never values)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const reply = await new BrokerClient(connectionFromEnv()).get<CredentialListReply>('/v1/credentials');
      print(reply, options.json, () =>
        table(
          ['NAME', 'KIND', 'GRANTS', 'DESCRIPTION'],
          reply.credentials.map((c: CredentialInfo) => [
            c.name,
            c.kind,
            c.grants.map((g) => g.aspect).join(',') || '-',
            c.description ?? '',
          ]),
          'no credentials',
        ),
      );
    });

  cred
    .command('grant')
    .description('let an aspect fetch a credential')
    .argument('<name>', 'credential name', nameArgument)
    .argument('<aspect>', 'aspect name', aspectArgument)
    .action(async (name: string, aspect: string) => {
      await new BrokerClient(connectionFromEnv()).post(`${credentialPath(name)}/grants`, { aspect });
      process.stdout.write(`granted ${name} to ${aspect}\n`);
    });

  cred
    .command('revoke')
    .description("withdraw an aspect's grant of a credential")
    .argument('<name>', 'credential name', nameArgument)
    .argument('<aspect>', 'aspect name', aspectArgument)
    .action(async (name: string, aspect: string) => {
      await new BrokerClient(connectionFromEnv()).delete(
        `${credentialPath(name)}/grants/${encodeURIComponent(aspect)}`,
      );
      process.stdout.write(`revoked ${name} from ${aspect}\n`);
    });

  cred
    .command('rm')
    .description('delete a credential and its grants')
    .argument('<name>', 'credential name', nameArgument)
    .action(async (name: string) => {
      await new BrokerClient(connectionFromEnv()).delete(credentialPath(name));
      process.stdout.write(`removed ${name}\n`);
    });
}
