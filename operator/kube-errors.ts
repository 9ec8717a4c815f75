/**
 * Reading a failed write: the HTTP status and the API server's own message. A KubeWriter rejects
 * with an error carrying the status as `status`, `statusCode` or `code` (client-node's
 * ApiException uses `code`) and the server's Status object as `body` (object or JSON text).
 */

/** The HTTP status of a failed API call, if the error says. */
export function httpStatusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as Record<string, unknown>;
  for (const value of [
    e.status,
    e.statusCode,
    e.code,
    (e.response as Record<string, unknown> | undefined)?.status,
  ]) {
    if (typeof value === 'number' && value >= 100 && value <= 599) return value;
  }
  return undefined;
}

/** The API server's message (a Status object's `message`), else the error's own. */
export function apiMessageOf(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    let body = (err as { body?: unknown }).body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        // Not JSON: the error's own message below says more than raw text would.
        body = undefined;
      }
    }
    const message = (body as { message?: unknown } | undefined)?.message;
    if (typeof message === 'string' && message !== '') return message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Whether an error is the given HTTP status. */
export const isStatus = (err: unknown, status: number) => httpStatusOf(err) === status;
