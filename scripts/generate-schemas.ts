// Writes what is derived from protocol/ (`npm run generate`): the JSON Schemas in docs/generated/,
// the Aspect CRD in crds/ and in the chart (B.103), the chart's values.schema.json (B.108) and its
// Grafana dashboards.
// Tests regenerate each in memory and fail when the committed files drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generatedSchemas } from '../protocol/json-schema.js';
import { ASPECT_CRD_NAME, aspectCrdYaml } from '../protocol/crd/index.js';
import { chartValuesJsonSchema } from '../protocol/chart/values.js';
import { DASHBOARDS, dashboardJson } from '../protocol/chart/dashboards.js';
import { CHART_CRD_FILE, CHART_DASHBOARDS_DIR, CHART_VALUES_SCHEMA_FILE } from '../protocol/chart/paths.js';

function write(file: string, text: string): void {
  mkdirSync(path.dirname(path.join(process.cwd(), file)), { recursive: true });
  writeFileSync(path.join(process.cwd(), file), text);
  process.stdout.write(`wrote ${file}\n`);
}

for (const [file, text] of Object.entries(generatedSchemas())) write(path.join('docs/generated', file), text);
write(path.join('crds', `${ASPECT_CRD_NAME}.yaml`), aspectCrdYaml());
write(CHART_CRD_FILE, aspectCrdYaml());
write(CHART_VALUES_SCHEMA_FILE, chartValuesJsonSchema());
for (const key of Object.keys(DASHBOARDS))
  write(path.join(CHART_DASHBOARDS_DIR, `${key}.json`), dashboardJson(key));
