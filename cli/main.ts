#!/usr/bin/env node
// The `nexus` command: composes the parts; holds no domain logic.
import { Command, CommanderError } from 'commander';
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

const program = new Command()
  .name('nexus')
  .description('Nexus: run a team of AI agents as one, coordinated through a broker on Postgres')
  .showHelpAfterError()
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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  process.stderr.write(`nexus: ${describe(err)}\n`);
  process.exit(err instanceof WireError || err instanceof ConfigError ? 2 : 1);
}

function describe(err: unknown): string {
  if (err instanceof WireError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
