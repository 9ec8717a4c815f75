/**
 * Fault injection: a test adds a rule and the next matching requests answer with that error
 * Status instead of being served (429 carries Retry-After, as the real server's priority and
 * fairness does), or hang: never answered, as a stuck API server or a black-holed connection, until
 * the client gives up or the double stops.
 */
import { KubeError } from './errors.js';

export interface FaultRule {
  /** HTTP method to match (GET, POST, PUT, PATCH, DELETE); any when absent. */
  method?: string;
  /** Matched against the path with its query string; any when absent. */
  path?: RegExp;
  /** Only watch requests (true) or only non-watch requests (false); both when absent. */
  watch?: boolean;
  /** Matched against the request body (a PUT of one writer's Lease, say); any when absent. */
  body?: RegExp;
  /** Never answer the request (`status` is then ignored). */
  hang?: boolean;
  status?: 409 | 410 | 422 | 429 | 500 | 503;
  /** How many matching requests fail (default 1). */
  times?: number;
  retryAfterS?: number;
  message?: string;
}

export interface Fault {
  readonly rule: FaultRule;
  /** Requests this rule has failed so far. */
  readonly hits: number;
  remove(): void;
}

interface Entry extends Fault {
  remaining: number;
  hits: number;
}

const defaultMessage: Record<number, string> = {
  409: 'Operation cannot be fulfilled: the object has been modified (injected)',
  410: 'too old resource version (injected)',
  422: 'the object is invalid (injected)',
  429: 'Too many requests, please try again later. (injected)',
  500: 'Internal error occurred: injected fault',
  503: 'service unavailable (injected)',
};

export class Faults {
  private readonly rules: Entry[] = [];

  add(rule: FaultRule): Fault {
    const entry: Entry = {
      rule,
      remaining: rule.times ?? 1,
      hits: 0,
      remove: () => {
        const i = this.rules.indexOf(entry);
        if (i >= 0) this.rules.splice(i, 1);
      },
    };
    this.rules.push(entry);
    return entry;
  }

  clear(): void {
    this.rules.length = 0;
  }

  /** The error for this request (or `hang`), consuming one use of the first matching rule. */
  take(method: string, pathWithQuery: string, watch: boolean, body = ''): KubeError | 'hang' | undefined {
    const entry = this.rules.find(
      ({ rule, remaining }) =>
        remaining > 0 &&
        (!rule.method || rule.method.toUpperCase() === method) &&
        (!rule.path || rule.path.test(pathWithQuery)) &&
        (rule.watch === undefined || rule.watch === watch) &&
        (!rule.body || rule.body.test(body)),
    );
    if (!entry) return undefined;
    entry.remaining--;
    entry.hits++;
    if (entry.remaining === 0) entry.remove();
    const { status = 500, retryAfterS, message, hang } = entry.rule;
    if (hang) return 'hang';
    const details = status === 429 ? { retryAfterSeconds: retryAfterS ?? 1 } : undefined;
    return new KubeError(status, message ?? defaultMessage[status] ?? 'injected fault', undefined, details);
  }
}
