// Writes what is derived from protocol/ (`npm run generate`): the JSON Schemas in docs/generated/
// and the Aspect CRD in crds/. Tests regenerate both in memory and fail when the committed files drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generatedSchemas } from '../protocol/json-schema.js';
import { ASPECT_CRD_NAME, aspectCrdYaml } from '../protocol/crd/index.js';

function write(dir: string, file: string, text: string): void {
  mkdirSync(path.join(process.cwd(), dir), { recursive: true });
  writeFileSync(path.join(process.cwd(), dir, file), text);
  process.stdout.write(`wrote ${dir}/${file}\n`);
}

for (const [file, text] of Object.entries(generatedSchemas())) write('docs/generated', file, text);
write('crds', `${ASPECT_CRD_NAME}.yaml`, aspectCrdYaml());
