/**
 * The request log: every request the double answered, with what it addressed, so tests and
 * benchmarks can bound requests and writes per object ("no hot loop", the write budget of B.64).
 */

export type Verb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete'
  | 'deletecollection'
  | 'discovery'
  | 'other';

export interface LoggedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  query: string;
  contentType?: string;
  accept?: string;
  userAgent?: string;
  verb: Verb;
  /** Resolved for resource requests. */
  group?: string;
  kind?: string;
  plural?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The answer's HTTP status (200 for a watch that started streaming). */
  status: number;
  at: number;
}

export interface RequestFilter {
  kind?: string;
  namespace?: string;
  name?: string;
  verb?: Verb;
  method?: string;
}

const writeVerbs = new Set<Verb>(['create', 'update', 'patch', 'delete', 'deletecollection']);

export const isWrite = (r: LoggedRequest): boolean => writeVerbs.has(r.verb);

export class RequestLog {
  readonly entries: LoggedRequest[] = [];

  record(entry: LoggedRequest): void {
    this.entries.push(entry);
  }

  filter(f: RequestFilter = {}): LoggedRequest[] {
    return this.entries.filter(
      (r) =>
        (f.kind === undefined || r.kind === f.kind) &&
        (f.namespace === undefined || r.namespace === f.namespace) &&
        (f.name === undefined || r.name === f.name) &&
        (f.verb === undefined || r.verb === f.verb) &&
        (f.method === undefined || r.method === f.method.toUpperCase()),
    );
  }

  /** Write requests (create, update, patch, delete; status writes included), answered or refused. */
  writes(f: Omit<RequestFilter, 'verb' | 'method'> = {}): LoggedRequest[] {
    return this.filter(f).filter(isWrite);
  }

  /** Write counts per object, `Kind namespace/name`, to spot the object a loop is hammering. */
  writesPerObject(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.entries.filter(isWrite)) {
      const key = `${r.kind ?? '?'} ${r.namespace ? `${r.namespace}/` : ''}${r.name ?? '?'}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
    return out;
  }

  clear(): void {
    this.entries.length = 0;
  }
}
