import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, createLogger, secretSetting } from '../platform/index.js';
import { startAgent } from '../runtime/agent.js';

/** Files `--config-from` copies into the home; sessions and state are never touched (B.31). */
export const CONFIG_FILES = ['aspect.json', 'SOUL.md', 'AGENT.md', 'CLAUDE.md', 'PRIMER.md', 'script.json'];

async function copyConfig(from: string, home: string): Promise<void> {
  await mkdir(home, { recursive: true });
  for (const file of CONFIG_FILES) {
    try {
      await copyFile(path.join(from, file), path.join(home, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/** `nexus agent HOME`: one runtime for the aspect in HOME. */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the runtime of the aspect whose home folder is HOME')
    .argument('<home>', 'the aspect home folder (aspect.json, SOUL.md, AGENT.md, PRIMER.md, session/)')
    .option('--config-from <dir>', 'copy aspect.json, identity documents and script.json from DIR at start')
    .action(async (home: string, options: { configFrom?: string }) => {
      const url = process.env.NEXUS_URL ?? 'http://127.0.0.1:7888';
      const token = () => {
        // Re-read on every call: a rotated NEXUS_TOKEN_FILE needs no restart (B.72).
        const value = secretSetting(process.env, 'NEXUS_TOKEN');
        if (!value) throw new ConfigError('NEXUS_TOKEN or NEXUS_TOKEN_FILE is required');
        return value;
      };
      token();
      if (options.configFrom) await copyConfig(options.configFrom, home);
      const logger = createLogger({ name: 'runtime' });
      const agent = await startAgent({ homeDir: path.resolve(home), url, token, logger });
      const stop = async (signal: string) => {
        logger.info({ signal }, 'stopping');
        await agent.stop();
        logger.flush();
        process.exit(0);
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
    });
}
