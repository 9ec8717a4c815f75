/**
 * The HTTP face: a real `node:http` server that checks the bearer token, logs the request,
 * applies injected faults, then routes to discovery, OpenAPI or the resource endpoints and
 * answers JSON (errors as `Status` objects).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveResource, isWatch, type ApiContext, type ResourceRequest } from './api.js';
import { coreVersions, groupList, groupOne, resourceList, versionInfo } from './discovery.js';
import { KubeError } from './errors.js';
import type { Faults } from './faults.js';
import { openApiDocument, openApiIndex } from './openapi.js';
import type { LoggedRequest, RequestLog, Verb } from './requests.js';

export interface ServerContext extends ApiContext {
  token: string | undefined;
  faults: Faults;
  log: RequestLog;
}

interface Routed {
  verb: Verb;
  resource?: ResourceRequest;
  answer?: () => unknown;
}

const notFoundAnswer = () => {
  throw new KubeError(404, 'the server could not find the requested resource', 'NotFound');
};

function route(
  ctx: ServerContext,
  method: string,
  url: URL,
  headers: http.IncomingHttpHeaders,
  body: string,
): Routed {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const { resources } = ctx.store;
  const p = url.pathname.replace(/\/+$/, '');
  const discovery = (answer: () => unknown): Routed => ({ verb: 'discovery', answer });
  if (p === '/version') return discovery(() => versionInfo);
  if (p === '/healthz' || p === '/readyz' || p === '/livez') return discovery(() => 'ok');
  if (p === '/api') return discovery(() => coreVersions(url.host));
  if (p === '/apis') return discovery(() => groupList(resources));
  if (p === '/openapi/v3') return discovery(() => openApiIndex(resources));
  if (parts[0] === 'openapi' && parts[1] === 'v3' && parts.length >= 3) {
    return discovery(() => openApiDocument(resources, parts.slice(2).join('/')) ?? notFoundAnswer());
  }
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1]) [group, version, rest] = ['', parts[1], parts.slice(2)];
  else if (parts[0] === 'apis' && parts[1] && parts[2])
    [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
  else if (parts[0] === 'apis' && parts[1])
    return discovery(() => groupOne(resources, parts[1] ?? '') ?? notFoundAnswer());
  else return { verb: 'other', answer: notFoundAnswer };
  if (rest.length === 0) return discovery(() => resourceList(resources, group, version) ?? notFoundAnswer());
  let namespace: string | undefined;
  const namespaceStatus = rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize');
  if (rest[0] === 'namespaces' && rest.length >= 3 && !namespaceStatus) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural = '', name, subresource] = rest;
  const t = resources.find(group, version, plural);
  if (!t || rest.length > 3 || (!t.namespaced && namespace !== undefined))
    return { verb: 'other', answer: notFoundAnswer };
  const query = url.searchParams;
  const verb: Verb =
    method === 'GET'
      ? name === undefined
        ? isWatch(query)
          ? 'watch'
          : 'list'
        : 'get'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name === undefined
                ? 'deletecollection'
                : 'delete'
              : 'other';
  return {
    verb,
    resource: {
      method,
      resource: t,
      namespace,
      name,
      subresource,
      query,
      contentType: headers['content-type'] ?? 'application/json',
      accept: headers.accept,
      body,
    },
  };
}

function nameFromBody(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { metadata?: { name?: unknown } };
    return typeof parsed.metadata?.name === 'string' ? parsed.metadata.name : undefined;
  } catch {
    return undefined;
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function handle(
  ctx: ServerContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  const routed = route(ctx, method, url, req.headers, body);
  const r = routed.resource;
  const entry: LoggedRequest = {
    method,
    path: url.pathname,
    query: url.search,
    contentType: req.headers['content-type'],
    accept: req.headers.accept,
    userAgent: req.headers['user-agent'],
    verb: routed.verb,
    group: r?.resource.group,
    kind: r?.resource.kind,
    plural: r?.resource.plural,
    namespace: r?.namespace,
    name: r?.name ?? (routed.verb === 'create' ? nameFromBody(body) : undefined),
    subresource: r?.subresource,
    status: 0,
    at: Date.now(),
  };
  try {
    // client-go (kubectl, helm) never sends a bearer token over plain http, so only a wrong token
    // is refused; client-node sends it, so a test still catches a client built with another one.
    const auth = req.headers.authorization;
    if (ctx.token !== undefined && auth !== undefined && auth !== `Bearer ${ctx.token}`) {
      throw new KubeError(401, "Unauthorized: not the bearer token of the double's kubeconfig", 'Unknown');
    }
    const fault = ctx.faults.take(method, url.pathname + url.search, r ? isWatch(r.query) : false, body);
    if (fault === 'hang') return; // left open: the client's timeout or the double's stop ends it
    if (fault) throw fault;
    if (routed.answer) {
      entry.status = 200;
      send(res, 200, routed.answer());
    } else if (r) {
      const answer = serveResource(ctx, r, req, res);
      entry.status = answer?.status ?? 200;
      if (answer && entry.verb === 'create' && entry.name === undefined) {
        entry.name = (answer.body as { metadata?: { name?: string } }).metadata?.name;
      }
      if (answer) send(res, answer.status, answer.body);
    }
  } catch (err) {
    const error =
      err instanceof KubeError ? err : new KubeError(500, `Internal error occurred: ${String(err)}`);
    entry.status = error.code;
    const retry = error.details?.retryAfterSeconds;
    send(res, error.code, error.toStatus(), retry !== undefined ? { 'retry-after': String(retry) } : {});
  } finally {
    ctx.log.record(entry);
  }
}

export async function listen(
  ctx: ServerContext,
  port: number,
): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    handle(ctx, req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${bound}` };
}
