#!/usr/bin/env node
// The `nexus` command: composes the parts; holds no domain logic.
import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { BrokerUnreachableError } from '../client/index.js';
import { ConfigError } from '../platform/index.js';
import { WireError } from '../protocol/index.js';
import { registerServerCommands } from './server-commands.js';
import { registerClientCommands } from './client-commands.js';
import { registerAgentCommand } from './agent-command.js';
import { registerSessionCommands } from './session-commands.js';
import { registerCredentialCommands } from './credential-commands.js';
import { registerWorkerCommand } from './worker-command.js';
import { registerHandCommands } from './hand-commands.js';
import { registerAlarmCommands } from './alarm-commands.js';
import { registerAuditCommands } from './audit-commands.js';
import { registerKnowledgeCommands } from './knowledge-commands.js';
import { registerDevCommand } from './dev-command.js';
import { registerOperatorCommand } from './operator-command.js';
import { EXIT_BAD_INPUT, NexusCommand, UsageError, addEnvironmentHelp, commandPath } from './usage.js';

/** The package's version: package.json sits two folders above `dist/cli/main.js`. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string;
  };
  return pkg.version ?? 'unknown';
}

const program = new NexusCommand()
  .name('nexus')
  .description('Nexus: run a team of AI agents as one, coordinated through a broker on Postgres')
  .version(packageVersion(), '-V, --version', 'print the version')
  .exitOverride();

registerServerCommands(program);
registerClientCommands(program);
registerAgentCommand(program);
registerSessionCommands(program);
registerCredentialCommands(program);
registerWorkerCommand(program);
registerHandCommands(program);
registerAlarmCommands(program);
registerAuditCommands(program);
registerKnowledgeCommands(program);
registerDevCommand(program);
registerOperatorCommand(program);
addEnvironmentHelp(program);

/** The command whose action is running, to name it when the action fails. */
let running = '';
program.hook('preAction', (_program, action) => {
  running = commandPath(action);
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // --help, --version and `nexus` alone (which prints the overview) end here with their own status.
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const command = err instanceof UsageError ? (err.command ?? running) : running;
  process.stderr.write(`${oneLine(command, err)}\n`);
  process.exit(exitStatus(err));
}

/** `nexus: COMMAND: what went wrong`, on one line; bad usage points at the command's help. */
function oneLine(command: string, err: unknown): string {
  const prefix = command ? `nexus: ${command}: ` : 'nexus: ';
  const help = err instanceof UsageError ? ` (see nexus ${command ? `${command} ` : ''}--help)` : '';
  return `${prefix}${describe(err)}${help}`.replace(/\s*\n\s*/g, ' ');
}

function describe(err: unknown): string {
  if (err instanceof WireError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** 2: bad input or a refusal by the broker; 1: anything else (the broker unreachable, a crash). */
function exitStatus(err: unknown): number {
  if (err instanceof BrokerUnreachableError) return 1;
  return err instanceof UsageError || err instanceof WireError || err instanceof ConfigError
    ? EXIT_BAD_INPUT
    : 1;
}
