/**
 * Watch streams: `GET ...?watch=true&resourceVersion=RV` answers 200 and then one JSON event per
 * line, `{type, object}`, until the server's timeout or the client goes.
 * - Without a resourceVersion (or "0") the stream starts with ADDED for every current object.
 * - With one, the events after it are replayed from the bounded history; a version older than the
 *   history answers one ERROR event with a 410 Expired Status and closes (client-node's informer
 *   then re-lists).
 * - Selectors apply to both the new and the old object, so an object that stops matching is seen
 *   as DELETED and one that starts matching as ADDED, as the real server does.
 * - BOOKMARKs only when `allowWatchBookmarks=true` (B.72): every `bookmarkIntervalMs` and just
 *   before the server closes the watch at its timeout.
 * - A streaming list (`sendInitialEvents=true`, client-go's WatchList, as helm v4's status
 *   watcher asks) gets the current objects as ADDED, then the BOOKMARK annotated
 *   `k8s.io/initial-events-end` that tells the client its list is whole; without that bookmark
 *   the client's informer never syncs.
 */
import type http from 'node:http';
import { expired } from './errors.js';
import type { Selector } from './selectors.js';
import type { Store, StoreEvent } from './store.js';
import { apiVersionOf, storageKey, type Obj, type ResourceType } from './types.js';

export interface WatchRequest {
  resource: ResourceType;
  namespace?: string;
  selector: Selector;
  resourceVersion?: string;
  allowBookmarks: boolean;
  /** `sendInitialEvents=true`: end the initial ADDED events with the initial-events-end BOOKMARK. */
  sendInitialEvents?: boolean;
  timeoutMs: number;
  bookmarkIntervalMs: number;
}

interface OpenWatch {
  request: WatchRequest;
  res: http.ServerResponse;
  close(how: 'end' | 'destroy'): void;
}

export class Watches {
  private readonly open = new Set<OpenWatch>();

  constructor(private readonly store: Store) {}

  get count(): number {
    return this.open.size;
  }

  /** Ends every open stream: gracefully (clients re-watch) or by resetting the connection. */
  drop(how: 'end' | 'destroy' = 'end'): void {
    for (const w of [...this.open]) w.close(how);
  }

  /** Sends a BOOKMARK now to every watch that asked for them. */
  bookmark(): void {
    for (const w of this.open) if (w.request.allowBookmarks) this.sendBookmark(w);
  }

  serve(request: WatchRequest, req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const { resource } = request;
    const rv = request.resourceVersion;
    if (rv && rv !== '0') {
      const missed = this.store.since(Number(rv));
      if (!missed || !/^\d+$/.test(rv)) {
        const status = expired(rv, this.store.compactedBefore).toStatus();
        res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
        return;
      }
      for (const event of missed) this.deliver(request, res, event);
    } else {
      const current = this.store
        .list(resource, request.namespace)
        .filter(request.selector)
        .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
      for (const object of current) write(res, 'ADDED', object);
    }
    if (request.sendInitialEvents)
      this.sendBookmark({ request, res }, { 'k8s.io/initial-events-end': 'true' });
    const timers: NodeJS.Timeout[] = [];
    const unsubscribe = this.store.subscribe((event) => this.deliver(request, res, event));
    const watch: OpenWatch = {
      request,
      res,
      close: (how) => {
        if (!this.open.delete(watch)) return;
        unsubscribe();
        for (const t of timers) clearInterval(t);
        if (how === 'destroy') res.destroy();
        else res.end();
      },
    };
    this.open.add(watch);
    req.on('close', () => watch.close('end'));
    res.on('close', () => watch.close('end'));
    timers.push(
      setTimeout(() => {
        if (request.allowBookmarks) this.sendBookmark(watch);
        watch.close('end');
      }, request.timeoutMs),
    );
    if (request.allowBookmarks) {
      timers.push(setInterval(() => this.sendBookmark(watch), request.bookmarkIntervalMs));
    }
    for (const t of timers) t.unref();
  }

  private sendBookmark(w: Pick<OpenWatch, 'request' | 'res'>, annotations?: Record<string, string>): void {
    const { resource } = w.request;
    const object = {
      kind: resource.kind,
      apiVersion: apiVersionOf(resource),
      metadata: {
        resourceVersion: String(this.store.resourceVersion),
        ...(annotations ? { annotations } : {}),
      },
    };
    write(w.res, 'BOOKMARK', object as Obj);
  }

  private deliver(request: WatchRequest, res: http.ServerResponse, event: StoreEvent): void {
    const { resource, namespace, selector } = request;
    if (storageKey(event.resource) !== storageKey(resource)) return;
    if (resource.namespaced && namespace && event.object.metadata.namespace !== namespace) return;
    const object = this.store.view(resource, event.object);
    const now = selector(event.object);
    if (event.type === 'MODIFIED') {
      const before = event.old ? selector(event.old) : false;
      if (now && before) write(res, 'MODIFIED', object);
      else if (now) write(res, 'ADDED', object);
      else if (before) write(res, 'DELETED', object);
    } else if (now) write(res, event.type, object);
  }
}

function write(res: http.ServerResponse, type: string, object: Obj): void {
  if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify({ type, object }) + '\n');
}
