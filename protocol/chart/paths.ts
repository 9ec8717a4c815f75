/** Where the generated files of the chart live, relative to the repository root. */
export const CHART_DIR = 'charts/nexus';
/** The CRD as the chart's template reads it (`.Files.Get`): the same text as crds/ (B.103). */
export const CHART_CRD_FILE = `${CHART_DIR}/files/crds/aspects.nexus.dev.yaml`;
export const CHART_VALUES_SCHEMA_FILE = `${CHART_DIR}/values.schema.json`;
/** Grafana dashboards, one JSON file per key of DASHBOARDS. */
export const CHART_DASHBOARDS_DIR = `${CHART_DIR}/files/dashboards`;
