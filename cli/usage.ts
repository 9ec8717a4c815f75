/**
 * How the `nexus` command reports bad input (SPEC section 1): one line on stderr naming the command
 * and what was wrong, a pointer to its help, nothing on stdout, exit 2. Commander's own messages
 * (and its habit of printing the whole usage) are replaced here, in one place, for every command.
 */
import { Command, InvalidArgumentError, type HelpContext } from 'commander';
import type { z } from 'zod';
import { firstIssueText } from '../protocol/index.js';

/** Exit status of bad input (usage, a bad value) and of a refusal of the request by the broker. */
export const EXIT_BAD_INPUT = 2;

/** Bad input found before anything was sent. `command` is the command path, e.g. `session tree`. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The path of a command below the program: `session tree`; '' for the program itself. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Commander's message for `code`, rewritten as one short line without the value typed. */
export function usageText(code: string | undefined, message: string): string {
  const text = message.replace(/^error: /, '');
  const suggestion = /\n\(Did you mean (.+)\?\)$/.exec(text);
  const first = (text.split('\n')[0] ?? text).trim();
  const hint = suggestion ? ` (did you mean ${suggestion[1]}?)` : '';
  switch (code) {
    case 'commander.missingArgument': {
      const name = /missing required argument '(.+)'/.exec(first)?.[1];
      return name ? `missing argument <${name}>` : first;
    }
    case 'commander.optionMissingArgument': {
      const flags = /option '(.+)' argument missing/.exec(first)?.[1];
      return flags ? `option ${flags} needs a value` : first;
    }
    case 'commander.excessArguments': {
      const counts = /Expected (\d+) arguments? but got (\d+)/.exec(first);
      return counts ? `too many arguments (expected ${counts[1]}, got ${counts[2]})` : first;
    }
    case 'commander.invalidArgument': {
      // Commander quotes the value typed; the reason alone is said (a value may be a secret).
      const option = /^option '(-\S+?)(?:,? [^']*)?' argument '[\s\S]*' is invalid\. ([\s\S]*)$/.exec(text);
      if (option) return `${option[1]}: ${option[2]}`;
      const argument = /^command-argument value '[\s\S]*' is invalid for argument '(.+?)'\. ([\s\S]*)$/.exec(
        text,
      );
      if (argument) return `<${argument[1]}>: ${argument[2]}`;
      return first;
    }
    default:
      return `${first.replace(/\n\(Did you mean .+\?\)$/, '')}${hint}`;
  }
}

/**
 * The command class of every `nexus` command: a usage error becomes a `UsageError` (printed as one
 * line by main), and a group called without a subcommand says so instead of printing its help.
 */
export class NexusCommand extends Command {
  override createCommand(name?: string): NexusCommand {
    return new NexusCommand(name);
  }

  override error(message: string, errorOptions?: { code?: string; exitCode?: number }): never {
    throw new UsageError(usageText(errorOptions?.code, message), commandPath(this));
  }

  override help(context?: HelpContext): never;
  override help(cb: (str: string) => string): never;
  override help(context?: HelpContext | ((str: string) => string)): never {
    if (typeof context === 'object' && context.error) {
      // A group with no subcommand given (`nexus session`): bad input, like any other.
      if (this.parent) throw new UsageError('missing command', commandPath(this));
      // `nexus help NAME` of a command that does not exist (`nexus` alone prints the overview).
      const [, asked] = this.args;
      if (asked !== undefined) throw new UsageError(`unknown command '${asked}'`);
    }
    return typeof context === 'function' ? super.help(context) : super.help(context);
  }
}

/** A commander argument parser from a zod schema: the schema's first reason, without a field path. */
export function schemaArgument<S extends z.ZodType>(schema: S): (value: string) => z.infer<S> {
  return (value: string) => {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    throw new InvalidArgumentError(firstIssueText(result.error).replace(/^\(root\): /, ''));
  };
}

/** Checks a request body built from arguments before it is sent: a bad one is a `UsageError`. */
export function checkedInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new UsageError(firstIssueText(result.error));
  return result.data;
}

/** The environment a client command reads, with its defaults (B.34): shown in every command's help. */
const CLIENT_ENVIRONMENT = `
Environment:
  NEXUS_URL         the broker (default http://127.0.0.1:7888)
  NEXUS_TOKEN       the token to act with, or
  NEXUS_TOKEN_FILE  a file holding it (default ./.nexus/admin-token, written by nexus dev)`;

const RUNTIME_ENVIRONMENT = `
Environment:
  NEXUS_URL         the broker (default http://127.0.0.1:7888)
  NEXUS_TOKEN       the token to act with, or
  NEXUS_TOKEN_FILE  a file holding it (re-read when it changes)`;

const SERVER_ENVIRONMENT: Record<string, string> = {
  broker: `
Environment:
  DATABASE_URL           the Postgres database (required)
  PORT                   the port to listen on (default 7888)
  NEXUS_SECRET_KEY       base64 of 32 bytes: encrypts stored credentials
  NEXUS_BOOTSTRAP_TOKEN  the first admin token
Clients reach it as NEXUS_URL, by default http://127.0.0.1:7888.`,
  migrate: `
Environment:
  DATABASE_URL  the Postgres database (required)`,
  health: `
Without --port, the first of these ports that answers decides (in a container only the nexus
process listens, so one HEALTHCHECK serves the broker, worker, operator and runtime):
Environment:
  METRICS_PORT, HEALTH_PORT  the runtime's, worker's or operator's probe port
  PORT                       the broker's port
then the defaults 7888 (broker), 9464 (runtime), 9465 (worker), 9466 (operator).`,
  operator: `
Environment:
  RUNTIME_IMAGE        the runtime image of Aspect pods (required)
  NEXUS_URL            the broker URL given to Aspect pods (required); the operator calls it too
  OPERATOR_BROKER_URL  the broker as the operator reaches it, when NEXUS_URL is only right for pods
  NEXUS_TOKEN_FILE     a file holding the operator's admin token (re-read when it changes), or
  NEXUS_TOKEN          the token itself
  KUBECONFIG           the cluster (default ~/.kube/config, else the pod's service account)
  WATCH_NAMESPACES     comma-separated namespaces to watch (default: all)
  FRAME_NAMESPACES     namespaces where role: frame is allowed (default POD_NAMESPACE)
  POD_NAME, POD_NAMESPACE  who this replica is and where its Lease lives
  LEASE_DURATION_S (15), OPERATOR_QPS (20), OPERATOR_BURST (30), RESYNC_S (300)
  ASPECT_POD_DEFAULTS  JSON merged under every Aspect's spec.pod
  METRICS_PORT (9466; 0 = off), HEALTH_PORT (probes when metrics are off)`,
};

/** Adds the environment block to the help of every command, by what the command talks to. */
export function addEnvironmentHelp(program: Command): void {
  program.addHelpText('after', CLIENT_ENVIRONMENT);
  for (const top of program.commands) {
    const text =
      SERVER_ENVIRONMENT[top.name()] ??
      (['agent', 'worker'].includes(top.name()) ? RUNTIME_ENVIRONMENT : CLIENT_ENVIRONMENT);
    const visit = (command: Command) => {
      command.addHelpText('after', text);
      for (const child of command.commands) visit(child);
    };
    visit(top);
  }
}
