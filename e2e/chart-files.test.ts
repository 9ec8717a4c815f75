/**
 * The chart's generated files and what they name: values.schema.json and the Grafana dashboards
 * are what `npm run generate` writes (no drift); the schema is strict on every object of ours
 * (B.108); every `nexus_*` series a dashboard or an alert names is one a process registers; the
 * chart's appVersion is the package's version.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { createBrokerMetrics } from '../broker/observability/broker-metrics.js';
import { createOperatorMetrics } from '../operator/metrics.js';
import { DASHBOARDS, dashboardJson } from '../protocol/chart/dashboards.js';
import { CHART_DASHBOARDS_DIR, CHART_DIR, CHART_VALUES_SCHEMA_FILE } from '../protocol/chart/paths.js';
import { chartValuesJsonSchema } from '../protocol/chart/values.js';
import { KUBE_TYPE_PREFIX } from '../protocol/chart/workload.js';
import { createPrometheusMetrics } from '../runtime/observability/prometheus-metrics.js';
import { MONITORING_API, find, renderChart } from '../testing/chart.js';

type Schema = Record<string, unknown>;

/** Every object schema in `schema` with the JSON path that reaches it. */
function objectSchemas(schema: unknown, at = '$'): { at: string; node: Schema }[] {
  if (schema === null || typeof schema !== 'object') return [];
  const node = schema as Schema;
  const out = node.type === 'object' ? [{ at, node }] : [];
  for (const [key, value] of Object.entries(node)) {
    if (Array.isArray(value)) value.forEach((v, i) => out.push(...objectSchemas(v, `${at}.${key}[${i}]`)));
    else if (value && typeof value === 'object') out.push(...objectSchemas(value, `${at}.${key}`));
  }
  return out;
}

/** The names every process registers (histograms also as _bucket, _count and _sum). */
function exportedSeries(): Set<string> {
  const registry = new Registry();
  createBrokerMetrics(registry);
  createPrometheusMetrics(registry);
  createOperatorMetrics(registry);
  const names = registry.getMetricsAsArray().map((m) => m.name);
  return new Set(names.flatMap((n) => [n, `${n}_bucket`, `${n}_count`, `${n}_sum`]));
}

describe('the chart files', () => {
  it('holds the values.schema.json and dashboards npm run generate writes', () => {
    expect(readFileSync(CHART_VALUES_SCHEMA_FILE, 'utf8')).toBe(chartValuesJsonSchema());
    const files = readdirSync(CHART_DASHBOARDS_DIR).sort();
    expect(files).toEqual(
      Object.keys(DASHBOARDS)
        .map((k) => `${k}.json`)
        .sort(),
    );
    for (const key of Object.keys(DASHBOARDS))
      expect(readFileSync(path.join(CHART_DASHBOARDS_DIR, `${key}.json`), 'utf8')).toBe(dashboardJson(key));
  });

  it('refuses unknown keys on every object of its own; only Kubernetes types and maps are open (B.108)', () => {
    const schema = JSON.parse(readFileSync(CHART_VALUES_SCHEMA_FILE, 'utf8')) as Schema;
    const objects = objectSchemas(schema);
    expect(objects.length).toBeGreaterThan(40);
    // aspectDefaults.pod is spec.pod's own schema (B.102): its Kubernetes types keep their keys, as the CRD's do.
    const open = objects.filter(
      ({ at, node }) =>
        node.additionalProperties !== false && !at.startsWith('$.properties.aspectDefaults.properties.pod.'),
    );
    for (const { at, node } of open) {
      // A map (string keys to one value type) or a Kubernetes type passed through: no properties of ours.
      expect({ at, properties: node.properties }).toEqual({ at, properties: undefined });
      const description = String(node.description ?? '');
      const map =
        node.additionalProperties !== undefined &&
        Object.keys(node.additionalProperties as object).length > 0;
      expect({
        at,
        open: map || description.startsWith(KUBE_TYPE_PREFIX),
      }).toEqual({
        at,
        open: true,
      });
    }
  });

  it('names only series the code exports, in dashboards and alerts', async () => {
    const exported = exportedSeries();
    const named = (text: string) => [...text.matchAll(/\bnexus_[a-z_]+/g)].map((m) => m[0]);
    const inDashboards = Object.keys(DASHBOARDS).flatMap((k) => named(dashboardJson(k)));
    const rule = find(await renderChart({ apiVersions: [MONITORING_API] }), 'PrometheusRule')[0];
    const inRules = named(JSON.stringify(rule?.spec ?? {}));
    expect(inRules.length).toBeGreaterThanOrEqual(3);
    for (const name of [...inDashboards, ...inRules])
      expect({ name, exported: exported.has(name) }).toEqual({ name, exported: true });
  });

  it('has the package version as its appVersion', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const chart = parse(readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});
