import type { Command } from 'commander';
import { BrokerClient } from '../client/index.js';
import {
  KnowledgeListQuery,
  KnowledgePath,
  KnowledgeSearchQuery,
  StoreKnowledgeRequest,
  WireError,
  parseOrThrow,
  type KnowledgeEntry,
  type KnowledgeHit,
  type KnowledgeListReply,
  type KnowledgeSearchReply,
  type StoreKnowledgeReply,
} from '../protocol/index.js';
import { parsePositiveInt } from './arguments.js';
import { connectionFromEnv } from './connection.js';

const CONNECTION_HELP = `
Talks to the broker at NEXUS_URL (default http://127.0.0.1:7888) as the holder of NEXUS_TOKEN
(or NEXUS_TOKEN_FILE; default ./.nexus/admin-token). An aspect token reads and writes as that
aspect; an admin token as op:NAME and sees every entry.`;

/** All of stdin, less one trailing newline (what `echo` and editors add). */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('reading the content from stdin (end with Ctrl-D)\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** The first line of `text`, at most `width` characters. */
function preview(text: string, width: number): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

function table(header: string[], rows: string[][]): string {
  return [header, ...rows].map((cells) => cells.join('\t')).join('\n');
}

function hitsText(hits: KnowledgeHit[]): string {
  if (hits.length === 0) return 'no hits';
  return table(
    ['SCORE', 'FROM', 'TOPIC', 'CONTENT'],
    hits.map((h) => [h.score.toFixed(3), h.from_agent, h.topic, preview(h.content, 80)]),
  );
}

function entriesText(entries: KnowledgeEntry[]): string {
  if (entries.length === 0) return 'no entries';
  return table(
    ['ID', 'FROM', 'SHARED', 'UPDATED', 'TOPIC'],
    entries.map((e) => [e.id, e.from_agent, e.shared ? 'yes' : 'no', e.updated_at, e.topic]),
  );
}

function print(value: unknown, json: boolean | undefined, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

/** `nexus knowledge add/search/ls/rm`: the knowledge store (SPEC section 9, B.26, B.91). */
export function registerKnowledgeCommands(program: Command): void {
  const knowledge = program
    .command('knowledge')
    .description('store and search the knowledge store')
    .addHelpText('after', CONNECTION_HELP);

  knowledge
    .command('add')
    .description('store an entry, or replace your entry of the same topic; content from --content or stdin')
    .argument('<topic>', 'a short name for the entry (at most 256 characters)')
    .option('--content <text>', 'the content (default: read from stdin)')
    .option('--shared', 'let every aspect find it (default for a new entry: only you)')
    .option('--json', 'print JSON')
    .addHelpText('after', CONNECTION_HELP)
    .action(async (topic: string, options: { content?: string; shared?: boolean; json?: boolean }) => {
      const content = options.content ?? (await readStdin());
      if (content.trim() === '')
        throw new WireError(
          'invalid_request',
          'content: is empty; give --content TEXT or pipe it in on stdin',
        );
      const body = parseOrThrow(StoreKnowledgeRequest, {
        topic,
        content,
        ...(options.shared ? { shared: true } : {}),
      });
      const reply = await new BrokerClient(connectionFromEnv()).call<StoreKnowledgeReply>(
        'POST',
        '/v1/knowledge',
        body,
      );
      const created = reply.status === 201;
      print(
        { id: reply.body.id, created },
        options.json,
        `stored ${reply.body.id} (${created ? 'created' : 'updated'})`,
      );
    });

  knowledge
    .command('search')
    .description('ranked full-text search: words must all match; "a or b" matches either, "-word" excludes')
    .argument('<query>', 'what to look for')
    .option('--top-k <n>', 'how many hits at most (1 to 50, default 5)', parsePositiveInt)
    .option(
      '--scope <scope>',
      'own, shared and peer:NAME, comma-separated (default: own,shared; for an admin, every entry)',
    )
    .option('--json', 'print JSON')
    .addHelpText('after', CONNECTION_HELP)
    .action(async (query: string, options: { topK?: number; scope?: string; json?: boolean }) => {
      const params = {
        q: query,
        ...(options.topK === undefined ? {} : { top_k: String(options.topK) }),
        ...(options.scope === undefined ? {} : { scope: options.scope }),
      };
      parseOrThrow(KnowledgeSearchQuery, params);
      const reply = await new BrokerClient(connectionFromEnv()).get<KnowledgeSearchReply>(
        `/v1/knowledge/search?${new URLSearchParams(params)}`,
      );
      print(reply, options.json, hitsText(reply.hits));
    });

  knowledge
    .command('ls')
    .description('list the entries you can see, oldest first')
    .option('--from <name>', 'only the entries of this author (an aspect or op:NAME)')
    .option('--after <id>', 'only entries after this id (to page)')
    .option('--limit <n>', 'at most this many (1 to 1000, default 100)', parsePositiveInt)
    .option('--json', 'print JSON')
    .addHelpText('after', CONNECTION_HELP)
    .action(async (options: { from?: string; after?: string; limit?: number; json?: boolean }) => {
      const params = {
        ...(options.from === undefined ? {} : { from_agent: options.from }),
        ...(options.after === undefined ? {} : { after: options.after }),
        ...(options.limit === undefined ? {} : { limit: String(options.limit) }),
      };
      parseOrThrow(KnowledgeListQuery, params);
      const query = new URLSearchParams(params).toString();
      const reply = await new BrokerClient(connectionFromEnv()).get<KnowledgeListReply>(
        `/v1/knowledge${query === '' ? '' : `?${query}`}`,
      );
      print(reply, options.json, entriesText(reply.entries));
    });

  knowledge
    .command('rm')
    .description('delete an entry (yours, or any with an admin token)')
    .argument('<id>', 'the entry id (see knowledge ls)')
    .option('--json', 'print JSON')
    .addHelpText('after', CONNECTION_HELP)
    .action(async (id: string, options: { json?: boolean }) => {
      const checked = parseOrThrow(KnowledgePath, { id }).id;
      await new BrokerClient(connectionFromEnv()).delete(`/v1/knowledge/${checked}`);
      print({ id: checked, removed: true }, options.json, `removed ${checked}`);
    });
}
