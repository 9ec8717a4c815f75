/**
 * Server-side printing: when a client (kubectl get) asks for
 * `application/json;as=Table;v=v1;g=meta.k8s.io`, lists and single objects answer a
 * `meta.k8s.io/v1` Table. Columns are Name, then the kind's printer columns (a CRD's
 * additionalPrinterColumns, evaluated by JSONPath), and Age when the kind declares none, as the
 * real server does for CRDs. Dates print as ages ("5s", "3m2s"), as the server does.
 */
import { jsonPath } from './jsonpath.js';
import type { Obj, PrinterColumn, ResourceType } from './types.js';

export const wantsTable = (accept: string | undefined): boolean => !!accept && /as=Table/.test(accept);

/** Kubernetes' duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 730) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y < 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

function columnsOf(t: ResourceType): PrinterColumn[] {
  if (t.custom) return t.printerColumns.length > 0 ? t.printerColumns : [age];
  return [...t.printerColumns, age];
}

function cell(object: Obj, column: PrinterColumn): unknown {
  let values: unknown[];
  try {
    values = jsonPath(object, column.jsonPath);
  } catch {
    return null;
  }
  if (values.length === 0) return null;
  const [first] = values;
  switch (column.type) {
    case 'date':
      return typeof first === 'string' ? humanDuration(Date.now() - Date.parse(first)) : null;
    case 'integer':
    case 'number':
      return typeof first === 'number' ? first : Number(first);
    case 'boolean':
      return first === true || first === 'true';
    default:
      return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',');
  }
}

function rowObject(object: Obj, include: string | null) {
  if (include === 'None') return undefined;
  if (include === 'Object') return object;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata };
}

export function toTable(
  t: ResourceType,
  objects: Obj[],
  resourceVersion: string,
  includeObject: string | null,
) {
  const columns = columnsOf(t);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name of the object', priority: 0 },
      ...columns.map((c) => ({
        name: c.name,
        type: c.type === 'date' ? 'date' : c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ],
    rows: objects.map((o) => ({
      cells: [o.metadata.name, ...columns.map((c) => cell(o, c))],
      object: rowObject(o, includeObject),
    })),
  };
}
