import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import { AuditQuery, WireError, firstIssueText, type AuditEntry } from '../protocol/index.js';
import { connectionFromEnv } from './connection.js';

/** `nexus audit` (B.29, B.91): the audit log, oldest first, filtered and paged by id (admin). */
export function registerAuditCommands(program: Command): void {
  program
    .command('audit')
    .description('read the audit log: admin actions, credential fetches, overrides and refusals (admin)')
    .option('--actor <actor>', 'only this actor, e.g. aspect:frame or op:alice')
    .option('--action <action>', 'only this action, e.g. token.revoke or aspect.shutdown')
    .option('--after <id>', 'only entries after this id (for paging)')
    .option('--limit <n>', 'at most N entries, 1 to 1000 (default 100)')
    .option('--json', 'print JSON')
    .action(
      async (options: {
        actor?: string;
        action?: string;
        after?: string;
        limit?: string;
        json?: boolean;
      }) => {
        const { json, ...filters } = options;
        const parsed = AuditQuery.safeParse(filters);
        if (!parsed.success) throw new WireError('invalid_request', `--${firstIssueText(parsed.error)}`);
        const query = new URLSearchParams(
          Object.entries(filters).filter((entry): entry is [string, string] => entry[1] !== undefined),
        ).toString();
        const { entries } = await new BrokerClient(connectionFromEnv()).get<{ entries: AuditEntry[] }>(
          `/v1/audit${query ? `?${query}` : ''}`,
        );
        if (json) return void process.stdout.write(`${JSON.stringify({ entries }, null, 2)}\n`);
        const lines = entries.map((e) =>
          [e.id, e.at, e.actor, e.action, e.target ?? '-', e.outcome].join('\t'),
        );
        process.stdout.write(
          entries.length === 0
            ? 'no audit entries\n'
            : `${['ID\tAT\tACTOR\tACTION\tTARGET\tOUTCOME', ...lines].join('\n')}\n`,
        );
      },
    );
}
