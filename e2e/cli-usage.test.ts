/**
 * The `nexus` command's manners, through the built CLI (SPEC section 1, B.34, B.91): bad input is
 * one line on stderr and exit 2, whatever the command; an unreachable broker is named with the
 * cause; every command's help names its environment; `--version` prints the package's version.
 * No broker runs here: NEXUS_URL points at a closed port, so a command that reached for the network
 * instead of checking its input would say "cannot reach" and fail its case.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { newAdminTokenValue, runNexus, type NexusRun } from '../testing/index.js';

/** Runs `fn` over `items`, at most `limit` at a time (each CLI run is a Node start-up). */
async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: limit }, async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i] as T);
  });
  await Promise.all(lanes);
  return results;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** [arguments, a fragment the one line must hold]. */
const BAD_INPUT: [string[], string][] = [
  // Unknown commands.
  [['rooster'], "nexus: unknown command 'rooster' (did you mean roster?) (see nexus --help)"],
  [['session', 'bogus'], "nexus: session: unknown command 'bogus'"],
  [['help', 'rooster'], "nexus: unknown command 'rooster' (see nexus --help)"],
  [['token', 'burn'], "nexus: token: unknown command 'burn'"],
  [['cred', 'steal'], "nexus: cred: unknown command 'steal'"],
  [['session'], 'nexus: session: missing command (see nexus session --help)'],
  [['token'], 'nexus: token: missing command'],
  [['cred'], 'nexus: cred: missing command'],
  // Unknown options.
  [['roster', '--bogus'], "nexus: roster: unknown option '--bogus' (see nexus roster --help)"],
  [['send', 'hi', '--jsn'], "nexus: send: unknown option '--jsn' (did you mean --json?)"],
  [['tail', '--follow'], "nexus: tail: unknown option '--follow'"],
  [['broker', '--prot', '1'], "nexus: broker: unknown option '--prot'"],
  [['migrate', '--force'], "nexus: migrate: unknown option '--force'"],
  [['health', '--host', 'x'], "nexus: health: unknown option '--host'"],
  [['worker', '--slot', '2'], "nexus: worker: unknown option '--slot'"],
  [['agent', 'home', '--config', 'x'], "nexus: agent: unknown option '--config'"],
  [['token', 'ls', '--kind', 'admin'], "nexus: token ls: unknown option '--kind'"],
  [['cred', 'ls', '--all'], "nexus: cred ls: unknown option '--all'"],
  [['hand', 'status', '1', '--verbose'], "nexus: hand status: unknown option '--verbose'"],
  [['queue', 'limits', '--x', '1'], "nexus: queue limits: unknown option '--x'"],
  [['session', 'ls', 'a', '--wat', '1'], "nexus: session ls: unknown option '--wat'"],
  // Missing arguments and option values.
  [['send'], 'nexus: send: missing argument <content> (see nexus send --help)'],
  [['agent'], 'nexus: agent: missing argument <home>'],
  [['token', 'mint'], 'nexus: token mint: missing argument <kind>'],
  [['token', 'revoke'], 'nexus: token revoke: missing argument <id> (or --name)'],
  [['token', 'revoke', '--name'], 'nexus: token revoke: option --name <name> needs a value'],
  [['cred', 'set'], 'nexus: cred set: missing argument <name>'],
  [['cred', 'grant', 'anthropic'], 'nexus: cred grant: missing argument <aspect>'],
  [['cred', 'revoke', 'anthropic'], 'nexus: cred revoke: missing argument <aspect>'],
  [['cred', 'rm'], 'nexus: cred rm: missing argument <name>'],
  [['hand'], 'nexus: hand dispatch: missing argument <target>'],
  [['hand', 'dispatch', 'helper', 'echo'], 'nexus: hand dispatch: missing argument <content>'],
  [['hand', 'abort'], 'nexus: hand abort: missing argument <id>'],
  [['session', 'ls'], 'nexus: session ls: missing argument <aspect>'],
  [['session', 'tree'], 'nexus: session tree: missing argument <aspect>'],
  [['session', 'rewind', 'wren'], 'nexus: session rewind: missing argument <entry>'],
  [['session', 'fork', 'wren'], 'nexus: session fork: missing argument <entry>'],
  [['session', 'activate', 'wren'], 'nexus: session activate: missing argument <sid>'],
  [['session', 'compact'], 'nexus: session compact: missing argument <aspect>'],
  [['session', 'summarise-branch', 'wren'], 'nexus: session summarise-branch: missing argument <entry>'],
  [['session', 'request', 'wren'], 'nexus: session request: missing argument <request_id>'],
  [['send', 'hi', '--to'], 'nexus: send: option --to <names> needs a value'],
  [['hand', 'helper', 'echo', 'x', '--thread'], 'nexus: hand dispatch: option --thread <id> needs a value'],
  // Too many arguments.
  [['roster', 'extra'], 'nexus: roster: too many arguments (expected 0, got 1)'],
  [['tail', 'now'], 'nexus: tail: too many arguments (expected 0, got 1)'],
  [['queue', 'drop'], 'nexus: queue ls: too many arguments (expected 0, got 1)'],
  [['token', 'revoke', '1', '2'], 'nexus: token revoke: too many arguments (expected 1, got 2)'],
  // Bad values: ports and counts.
  [['broker', '--port', '99999'], 'nexus: broker: --port: must be a port number from 0 to 65535'],
  [['broker', '--port', 'http'], 'nexus: broker: --port: must be a port number from 0 to 65535'],
  [['health', '--port', '70000'], 'nexus: health: --port: must be a port number from 0 to 65535'],
  [['worker', '--slots', '0'], 'nexus: worker: --slots must be an integer from 1 to 256'],
  [
    ['session', 'ls', 'wren', '--wait', '301'],
    'nexus: session ls: --wait: must be whole seconds from 0 to 300',
  ],
  [['queue', 'ls', '--limit', '0'], 'nexus: queue ls: --limit: must be an integer from 1 to 1000'],
  [['queue', 'limits', '--n', '0'], 'nexus: queue limits: --n: must be a positive integer'],
  [['queue', 'limits', '--h', 'many'], 'nexus: queue limits: --h: must be a positive integer'],
  [
    ['hand', 'helper', 'echo', 'x', '--deadline', 'soon'],
    'nexus: hand dispatch: --deadline: must be a positive integer',
  ],
  [
    ['hand', 'helper', 'echo', 'x', '--timeout', '1.5'],
    'nexus: hand dispatch: --timeout: must be a positive integer',
  ],
  [['hand', 'helper', 'echo', 'x', '--input', '{oops'], 'nexus: hand dispatch: --input: is not valid JSON'],
  // Bad values: ids.
  [['token', 'revoke', 'abc'], 'nexus: token revoke: <id>: must be a decimal id string'],
  [
    ['token', 'revoke', '7', '--name', 'nexus-worker'],
    'nexus: token revoke: give a token id or --name, not both',
  ],
  [['token', 'revoke', '--name', ''], 'nexus: token revoke: --name: must not be empty'],
  [['hand', 'status', '12x'], 'nexus: hand status: <id>: must be a decimal id string'],
  [['hand', 'abort', '-1'], 'nexus: hand abort: '],
  [['session', 'request', 'wren', 'x'], 'nexus: session request: <request_id>: must be a decimal id string'],
  [['send', 'hi', '--thread', 't1'], 'nexus: send: --thread: must be a decimal id string'],
  [
    ['session', 'rewind', 'wren', 'not-an-entry'],
    'nexus: session rewind: <entry>: must be a session entry id',
  ],
  [['session', 'tree', 'wren', 'nope'], 'nexus: session tree: <sid>: must be global, a thread id or fork-ID'],
  [['session', 'activate', 'wren', '12a'], 'nexus: session activate: <sid>: must be global'],
  [['session', 'compact', 'wren', '--thread', 'x'], 'nexus: session compact: --thread: must be a decimal id'],
  // Bad values: names and kinds.
  [['send', 'hi', '--to', 'Bad Name'], 'nexus: send: --to: '],
  [['send', 'hi', '--to', ','], 'nexus: send: --to: must name at least one recipient'],
  [['token', 'mint', 'root'], 'nexus: token mint: <kind>: '],
  [['token', 'mint', 'aspect', '--aspect', 'UPPER'], 'nexus: token mint: --aspect: must be a DNS-1123 label'],
  [['token', 'mint', 'admin'], 'nexus: token mint: '],
  [['token', 'ls', '--aspect', 'x_y'], 'nexus: token ls: --aspect: must be a DNS-1123 label'],
  [['hand', 'Target', 'echo', 'x'], 'nexus: hand dispatch: <target>: must be a DNS-1123 label'],
  [['hand', 'helper', 'Echo!', 'x'], 'nexus: hand dispatch: <hand>: must be a DNS-1123 label'],
  [['queue', 'ls', '--target', 'A'], 'nexus: queue ls: --target: must be a DNS-1123 label'],
  [['session', 'ls', 'No'], 'nexus: session ls: <aspect>: must be a DNS-1123 label'],
  [['cred', 'grant', 'anthropic', 'Bad'], 'nexus: cred grant: <aspect>: must be a DNS-1123 label'],
  [['cred', 'set', 'bad name!'], 'nexus: cred set: <name>: '],
  [['cred', 'set', 'anthropic'], 'nexus: cred set: the value read from stdin is empty'],
];

describe('the nexus command', () => {
  let url: string;
  const token = newAdminTokenValue();

  beforeAll(async () => {
    url = `http://127.0.0.1:${await closedPort()}`;
  });

  it('answers every kind of bad input with one line on stderr, nothing on stdout, and exit 2', async () => {
    const runs = await mapLimited(BAD_INPUT, 2, ([args]) =>
      runNexus(args, { NEXUS_URL: url, NEXUS_TOKEN: token }),
    );
    const wrong = BAD_INPUT.flatMap(([args, fragment], i) => {
      const run = runs[i] as NexusRun;
      const fine =
        run.code === 2 &&
        run.stdout === '' &&
        /^nexus: [^\n]+\n$/.test(run.stderr) &&
        run.stderr.includes(fragment) &&
        !run.stderr.includes(token);
      return fine ? [] : [{ args: args.join(' '), code: run.code, stdout: run.stdout, stderr: run.stderr }];
    });
    expect(wrong).toEqual([]);
  }, 300_000);

  it('says NEXUS_URL is not a URL it can use, in one line', async () => {
    const run = await runNexus(['roster'], { NEXUS_URL: 'ftp://127.0.0.1:7888', NEXUS_TOKEN: token });
    expect(run).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'nexus: roster: NEXUS_URL must be an http:// or https:// URL, e.g. http://127.0.0.1:7888\n',
    });
  }, 60_000);

  it('names the broker it cannot reach and why, in one line, for every kind of command', async () => {
    /** [arguments, the command path the line names]. */
    const commands: [string[], string][] = [
      [['roster'], 'roster'],
      [['send', 'hello', '--to', 'wren'], 'send'],
      [['tail'], 'tail'],
      [['token', 'ls'], 'token ls'],
      [['cred', 'ls'], 'cred ls'],
      [['hand', 'status', '1'], 'hand status'],
      [['queue'], 'queue ls'],
      [['session', 'ls', 'wren'], 'session ls'],
    ];
    // The URL as given ends in a slash; the line names the broker without it.
    const runs = await mapLimited(commands, 2, ([args]) =>
      runNexus(args, { NEXUS_URL: `${url}/`, NEXUS_TOKEN: token }),
    );
    const got = runs.map((run) => ({ code: run.code, stdout: run.stdout, stderr: run.stderr }));
    expect(got).toEqual(
      commands.map(([, command]) => ({
        code: 1,
        stdout: '',
        stderr: `nexus: ${command}: cannot reach the broker at ${url} (ECONNREFUSED)\n`,
      })),
    );
  }, 120_000);

  it('prints the package version with --version', async () => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V'])
      expect(await runNexus([flag], {})).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  }, 60_000);

  it("names each command's environment and the default URL in its help", async () => {
    /** The subcommand names a help text lists under "Commands:". */
    const subcommands = (help: string) =>
      (help.split('\nCommands:\n')[1] ?? '')
        .split('\n\n')[0]
        ?.split('\n')
        .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
        .filter((name): name is string => name !== undefined && name !== 'help') ?? [];
    const top = await runNexus(['--help'], {});
    expect(top.code).toBe(0);
    const paths: string[][] = [];
    for (const name of subcommands(top.stdout)) {
      const help = await runNexus([name, '--help'], {});
      const children = subcommands(help.stdout);
      if (children.length === 0) paths.push([name]);
      else for (const child of children) paths.push([name, child]);
    }
    expect(paths.length).toBeGreaterThan(25);
    const helps = await mapLimited(paths, 2, (path) => runNexus([...path, '--help'], {}));
    const server = new Set(['broker', 'migrate', 'health']);
    const missing = paths.flatMap((path, i) => {
      const help = helps[i] as NexusRun;
      // The operator has no default broker: its NEXUS_URL is the in-cluster one it gives pods.
      const wanted = server.has(path[0] as string)
        ? [path[0] === 'health' ? 'PORT' : 'DATABASE_URL']
        : path[0] === 'operator'
          ? ['NEXUS_URL', 'NEXUS_TOKEN', 'NEXUS_TOKEN_FILE', 'KUBECONFIG', 'RUNTIME_IMAGE']
          : ['NEXUS_URL', 'NEXUS_TOKEN', 'NEXUS_TOKEN_FILE', 'http://127.0.0.1:7888'];
      const absent = wanted.filter((w) => !help.stdout.includes(w));
      return help.code === 0 && absent.length === 0
        ? []
        : [{ command: path.join(' '), absent, code: help.code }];
    });
    expect(missing).toEqual([]);
  }, 300_000);
});
