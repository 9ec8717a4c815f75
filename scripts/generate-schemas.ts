// Writes the JSON Schemas derived from protocol/ into docs/generated/ (`npm run generate`).
// A test regenerates them in memory and fails when the committed files drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generatedSchemas } from '../protocol/json-schema.js';

const outDir = path.join(process.cwd(), 'docs/generated');
mkdirSync(outDir, { recursive: true });
for (const [file, text] of Object.entries(generatedSchemas())) {
  writeFileSync(path.join(outDir, file), text);
  process.stdout.write(`wrote docs/generated/${file}\n`);
}
