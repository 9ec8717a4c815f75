// Copies what tsc does not emit (SQL migrations) next to the compiled code, and marks the CLI executable.
import { chmodSync, cpSync } from 'node:fs';

cpSync('broker/db/migrations', 'dist/broker/db/migrations', { recursive: true });
chmodSync('dist/cli/main.js', 0o755);
