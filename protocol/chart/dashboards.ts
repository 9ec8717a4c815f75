/**
 * The Grafana dashboards the chart ships (SPEC section 10), one per area, as the JSON Grafana's
 * sidecar loads from ConfigMaps labelled `grafana_dashboard: "1"`. Panels show only series the code
 * exports today (a test checks every `nexus_*` name against the processes' registries); `npm run
 * generate` writes them into charts/nexus/files/dashboards/.
 */

interface Panel {
  title: string;
  /** PromQL, one query per line of the panel. */
  queries: { expr: string; legend: string }[];
  unit?: string;
}

const p95 = (metric: string, by = '') =>
  `histogram_quantile(0.95, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket[5m])))`;

export const DASHBOARDS: Record<string, { title: string; panels: Panel[] }> = {
  bus: {
    title: 'Nexus / Bus',
    panels: [
      {
        title: 'Aspects by status',
        queries: [{ expr: 'sum by (status) (nexus_aspects)', legend: '{{status}}' }],
      },
      {
        title: 'WebSocket connections',
        queries: [{ expr: 'sum by (pod) (nexus_ws_connections)', legend: '{{pod}}' }],
      },
      {
        title: 'Messages persisted per second',
        queries: [{ expr: 'sum by (kind) (rate(nexus_messages_total[5m]))', legend: '{{kind}}' }],
      },
      {
        title: 'Delivery latency (p95)',
        unit: 's',
        queries: [{ expr: p95('nexus_message_delivery_seconds'), legend: 'p95' }],
      },
      {
        title: 'Deliveries per second',
        queries: [{ expr: 'sum by (pod) (rate(nexus_deliveries_total[5m]))', legend: '{{pod}}' }],
      },
      {
        title: 'HTTP requests per second',
        queries: [{ expr: 'sum by (status) (rate(nexus_http_requests_total[5m]))', legend: '{{status}}' }],
      },
      {
        title: 'HTTP latency (p95)',
        unit: 's',
        queries: [{ expr: p95('nexus_http_request_seconds', 'route'), legend: '{{route}}' }],
      },
      {
        title: 'Duties held',
        queries: [{ expr: 'sum by (duty, pod) (nexus_duty_held)', legend: '{{duty}} {{pod}}' }],
      },
    ],
  },
  hands: {
    title: 'Nexus / Hands and queue',
    panels: [
      {
        title: 'Queued and running dispatches',
        queries: [
          { expr: 'max(nexus_hand_queue_depth)', legend: 'queued' },
          { expr: 'max(nexus_hand_running)', legend: 'running' },
        ],
      },
      {
        title: 'Wait before a claim (p95)',
        unit: 's',
        queries: [{ expr: p95('nexus_hand_wait_seconds'), legend: 'p95' }],
      },
      {
        title: 'Run time (p95)',
        unit: 's',
        queries: [{ expr: p95('nexus_hand_run_seconds', 'status'), legend: '{{status}}' }],
      },
      {
        title: 'Results per second',
        queries: [{ expr: 'sum by (status) (rate(nexus_hand_results_total[5m]))', legend: '{{status}}' }],
      },
    ],
  },
  providers: {
    title: 'Nexus / Providers and cost',
    panels: [
      {
        title: 'Tokens per second',
        queries: [
          {
            expr: 'sum by (aspect, direction) (rate(nexus_provider_tokens_total[5m]))',
            legend: '{{aspect}} {{direction}}',
          },
        ],
      },
      {
        title: 'Cost per hour (USD)',
        unit: 'currencyUSD',
        queries: [
          { expr: 'sum by (aspect) (increase(nexus_provider_cost_usd_total[1h]))', legend: '{{aspect}}' },
        ],
      },
      {
        title: 'Provider requests per second',
        queries: [
          {
            expr: 'sum by (provider, outcome) (rate(nexus_provider_requests_total[5m]))',
            legend: '{{provider}} {{outcome}}',
          },
        ],
      },
      {
        title: 'Provider latency (p95)',
        unit: 's',
        queries: [{ expr: p95('nexus_provider_latency_seconds', 'provider'), legend: '{{provider}}' }],
      },
    ],
  },
  sessions: {
    title: 'Nexus / Sessions and compaction',
    panels: [
      {
        title: 'Context used',
        unit: 'percentunit',
        queries: [{ expr: 'max by (aspect) (nexus_session_context_ratio)', legend: '{{aspect}}' }],
      },
      {
        title: 'Compactions per hour',
        queries: [{ expr: 'sum by (aspect) (increase(nexus_compactions_total[1h]))', legend: '{{aspect}}' }],
      },
      {
        title: 'Turns per minute',
        queries: [
          {
            expr: 'sum by (aspect, reason) (rate(nexus_turns_total[5m])) * 60',
            legend: '{{aspect}} {{reason}}',
          },
        ],
      },
      {
        title: 'Turn time (p95)',
        unit: 's',
        queries: [{ expr: p95('nexus_turn_seconds', 'aspect'), legend: '{{aspect}}' }],
      },
    ],
  },
  operator: {
    title: 'Nexus / Operator',
    panels: [
      {
        title: 'Reconciles per second',
        queries: [
          { expr: 'sum by (result) (rate(nexus_operator_reconcile_total[5m]))', legend: '{{result}}' },
        ],
      },
      {
        title: 'Reconcile errors per second',
        queries: [{ expr: 'sum(rate(nexus_operator_reconcile_errors_total[5m]))', legend: 'errors' }],
      },
      {
        title: 'Reconcile time (p95)',
        unit: 's',
        queries: [{ expr: p95('nexus_operator_reconcile_seconds'), legend: 'p95' }],
      },
      {
        title: 'API server requests per second',
        queries: [
          {
            expr: 'sum by (verb, code) (rate(nexus_operator_kube_requests_total[5m]))',
            legend: '{{verb}} {{code}}',
          },
        ],
      },
      {
        title: 'Leader, queue, restarts',
        queries: [
          { expr: 'max by (pod) (nexus_operator_leader)', legend: 'leader {{pod}}' },
          { expr: 'max(nexus_operator_queue_depth)', legend: 'queue' },
          {
            expr: 'sum(increase(nexus_operator_informer_restarts_total[1h]))',
            legend: 'informer restarts / h',
          },
          { expr: 'sum(increase(nexus_operator_broker_errors_total[1h]))', legend: 'broker errors / h' },
        ],
      },
    ],
  },
};

/** One dashboard as Grafana's JSON model (two panels a row, a Prometheus datasource variable). */
export function dashboardJson(key: string): string {
  const board = DASHBOARDS[key];
  if (!board) throw new Error(`no dashboard ${key}`);
  const datasource = { type: 'prometheus', uid: '${datasource}' };
  const model = {
    uid: `nexus-${key}`,
    title: board.title,
    tags: ['nexus'],
    schemaVersion: 39,
    editable: true,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [{ name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus' }],
    },
    panels: board.panels.map((panel, i) => ({
      id: i + 1,
      type: 'timeseries',
      title: panel.title,
      datasource,
      gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
      fieldConfig: { defaults: { unit: panel.unit ?? 'short' }, overrides: [] },
      targets: panel.queries.map((q, j) => ({
        refId: String.fromCharCode(65 + j),
        datasource,
        expr: q.expr,
        legendFormat: q.legend,
      })),
    })),
  };
  return `${JSON.stringify(model, null, 2)}\n`;
}
