// Copies what tsc does not emit (SQL migrations) next to the compiled code, marks the CLI
// executable, and last writes dist/.build-stamp: the `./nexus` launcher rebuilds when a source is
// newer than it (a build that failed writes none, so the next run builds again).
import { chmodSync, cpSync, rmSync, writeFileSync } from 'node:fs';

// Replaced, not merged: a migration renamed or removed in the source must not linger in dist/.
rmSync('dist/broker/db/migrations', { recursive: true, force: true });
cpSync('broker/db/migrations', 'dist/broker/db/migrations', { recursive: true });
chmodSync('dist/cli/main.js', 0o755);
writeFileSync('dist/.build-stamp', `${new Date().toISOString()}\n`);
