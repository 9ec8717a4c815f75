/**
 * The resource endpoints: list, watch, get, create, update (PUT), patch (four content types),
 * delete and deletecollection, on `[/namespaces/NS]/PLURAL[/NAME[/status]]`. Answers are
 * `{status, body}`; a watch writes its own stream.
 */
import type http from 'node:http';
import { parse as parseYaml } from 'yaml';
import { badRequest, KubeError, notFound } from './errors.js';
import { deleteObject, type PropagationPolicy } from './lifecycle.js';
import { jsonPatch, mergePatch, strategicMerge } from './patch.js';
import { both, fieldSelector, labelSelector } from './selectors.js';
import type { Store } from './store.js';
import { toTable, wantsTable } from './table.js';
import { apiVersionOf, isObject, type Obj, type ResourceType } from './types.js';
import type { Watches } from './watch.js';

export interface ResourceRequest {
  method: string;
  resource: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  query: URLSearchParams;
  contentType: string;
  accept?: string;
  body: string;
}

export interface Answer {
  status: number;
  body: unknown;
}

export interface ApiContext {
  store: Store;
  watches: Watches;
  watchTimeoutMs: number;
  bookmarkIntervalMs: number;
}

export const isWatch = (q: URLSearchParams) => q.get('watch') === 'true' || q.get('watch') === '1';

function parseBody(r: ResourceRequest): unknown {
  if (r.contentType.startsWith('application/vnd.kubernetes.protobuf')) {
    // client-go's typed clients (kubectl create configmap, helm's Secret driver) send protobuf.
    throw new KubeError(
      415,
      'the Kubernetes API double speaks JSON only, not protobuf',
      'UnsupportedMediaType',
    );
  }
  if (r.body.trim() === '') throw badRequest('the request has no body');
  try {
    return r.contentType.startsWith('application/apply-patch+yaml') ? parseYaml(r.body) : JSON.parse(r.body);
  } catch (err) {
    throw badRequest(`the request body could not be decoded: ${(err as Error).message}`);
  }
}

function bodyObject(r: ResourceRequest): Obj {
  const body = parseBody(r);
  if (!isObject(body)) throw badRequest('the request body is not an object');
  const object = body as Obj;
  object.metadata = isObject(object.metadata) ? object.metadata : {};
  return object;
}

const writing = (r: ResourceRequest) => ({
  validate: true,
  fieldValidation: r.query.get('fieldValidation') ?? undefined,
});

function placed(r: ResourceRequest, object: Obj): Obj {
  const meta = object.metadata;
  if (r.resource.namespaced) {
    if (meta.namespace && r.namespace && meta.namespace !== r.namespace) {
      throw badRequest(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    meta.namespace = r.namespace ?? meta.namespace;
  }
  if (r.name !== undefined) {
    if (meta.name && meta.name !== r.name) {
      throw badRequest(
        `the name of the object (${meta.name}) does not match the name on the URL (${r.name})`,
      );
    }
    meta.name = r.name;
  }
  return object;
}

function list(ctx: ApiContext, r: ResourceRequest): Answer {
  const select = both(
    labelSelector(r.query.get('labelSelector')),
    fieldSelector(r.query.get('fieldSelector')),
  );
  const items = ctx.store.list(r.resource, r.namespace).filter(select);
  const rv = String(ctx.store.resourceVersion);
  if (wantsTable(r.accept))
    return { status: 200, body: toTable(r.resource, items, rv, r.query.get('includeObject')) };
  // Built-in lists carry no kind on their items; custom ones do.
  const shown = r.resource.custom ? items : items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
  return {
    status: 200,
    body: {
      apiVersion: apiVersionOf(r.resource),
      kind: `${r.resource.kind}List`,
      metadata: { resourceVersion: rv },
      items: shown,
    },
  };
}

function propagation(r: ResourceRequest): PropagationPolicy {
  let body: unknown;
  if (r.body.trim()) {
    try {
      body = JSON.parse(r.body);
    } catch {
      throw badRequest('DeleteOptions could not be decoded');
    }
  }
  const fromBody = isObject(body) ? body.propagationPolicy : undefined;
  const orphan =
    (isObject(body) && body.orphanDependents === true) || r.query.get('orphanDependents') === 'true';
  const policy = r.query.get('propagationPolicy') ?? fromBody ?? (orphan ? 'Orphan' : 'Background');
  if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
    throw badRequest(`propagationPolicy ${JSON.stringify(policy)} is not Background, Foreground or Orphan`);
  }
  return policy;
}

function preconditionUid(r: ResourceRequest): string | undefined {
  if (!r.body.trim()) return undefined;
  const body: unknown = JSON.parse(r.body);
  return isObject(body) && isObject(body.preconditions) && typeof body.preconditions.uid === 'string'
    ? body.preconditions.uid
    : undefined;
}

function remove(ctx: ApiContext, r: ResourceRequest, name: string): Answer {
  const { store } = ctx;
  const lingering = deleteObject(store, r.resource, r.namespace, name, propagation(r), preconditionUid(r));
  if (lingering) return { status: 200, body: lingering };
  return {
    status: 200,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name, group: r.resource.group, kind: r.resource.plural },
    },
  };
}

function patch(ctx: ApiContext, r: ResourceRequest, name: string): Answer {
  const { store } = ctx;
  const t = r.resource;
  const type = r.contentType.split(';')[0]?.trim() ?? '';
  const body = parseBody(r);
  const current = store.peek(t, r.namespace, name);
  const statusOnly = r.subresource === 'status';
  if (type === 'application/apply-patch+yaml') {
    if (!isObject(body)) throw badRequest('an apply patch must be an object');
    if (!current) return { status: 201, body: store.create(t, placed(r, body as Obj), { ...writing(r) }) };
  }
  if (!current) throw notFound({ plural: t.plural, group: t.group, name });
  const base = store.view(t, current);
  let next: unknown;
  switch (type) {
    case 'application/merge-patch+json':
      next = mergePatch(base, body);
      break;
    case 'application/json-patch+json':
      next = jsonPatch(base, body);
      break;
    case 'application/strategic-merge-patch+json':
      if (t.custom) {
        throw new KubeError(
          415,
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
          'UnsupportedMediaType',
        );
      }
      next = strategicMerge(base, body);
      break;
    case 'application/apply-patch+yaml':
      next = strategicMerge(base, body);
      break;
    default:
      throw new KubeError(
        415,
        `the body of the request was in an unknown format: ${type}`,
        'UnsupportedMediaType',
      );
  }
  if (!isObject(next) || !isObject(next.metadata)) throw badRequest('the patched object has no metadata');
  const object = next as Obj;
  object.metadata.name = name;
  if (t.namespaced) object.metadata.namespace = r.namespace;
  return { status: 200, body: store.replace(t, object, { ...writing(r), statusOnly }) };
}

/** Serves one resource request; a watch streams on `res` and answers undefined. */
export function serveResource(
  ctx: ApiContext,
  r: ResourceRequest,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Answer | undefined {
  const { store } = ctx;
  const t = r.resource;
  if (r.query.has('dryRun')) throw badRequest('dryRun is not supported by the test double');
  if (r.subresource && !(r.subresource === 'status' && t.statusSubresource)) {
    throw notFound({ plural: `${t.plural}/${r.subresource}`, group: t.group, name: r.name ?? '' });
  }
  if (r.name === undefined) {
    switch (r.method) {
      case 'GET':
        if (!isWatch(r.query)) return list(ctx, r);
        ctx.watches.serve(
          {
            resource: t,
            namespace: r.namespace,
            selector: both(
              labelSelector(r.query.get('labelSelector')),
              fieldSelector(r.query.get('fieldSelector')),
            ),
            resourceVersion: r.query.get('resourceVersion') ?? undefined,
            allowBookmarks: r.query.get('allowWatchBookmarks') === 'true',
            sendInitialEvents: r.query.get('sendInitialEvents') === 'true',
            timeoutMs: r.query.has('timeoutSeconds')
              ? Math.min(Number(r.query.get('timeoutSeconds')) * 1000, ctx.watchTimeoutMs)
              : ctx.watchTimeoutMs,
            bookmarkIntervalMs: ctx.bookmarkIntervalMs,
          },
          req,
          res,
        );
        return undefined;
      case 'POST':
        return { status: 201, body: store.create(t, placed(r, bodyObject(r)), { ...writing(r) }) };
      case 'DELETE': {
        const select = both(
          labelSelector(r.query.get('labelSelector')),
          fieldSelector(r.query.get('fieldSelector')),
        );
        const doomed = store.list(t, r.namespace).filter(select);
        for (const o of doomed)
          deleteObject(store, t, o.metadata.namespace, o.metadata.name ?? '', propagation(r));
        const rv = String(store.resourceVersion);
        return {
          status: 200,
          body: {
            apiVersion: apiVersionOf(t),
            kind: `${t.kind}List`,
            metadata: { resourceVersion: rv },
            items: doomed,
          },
        };
      }
    }
  } else {
    const name = r.name;
    switch (r.method) {
      case 'GET': {
        const object = store.get(t, r.namespace, name);
        if (wantsTable(r.accept)) {
          return {
            status: 200,
            body: toTable(t, [object], object.metadata.resourceVersion ?? '', r.query.get('includeObject')),
          };
        }
        return { status: 200, body: object };
      }
      case 'PUT':
        return {
          status: 200,
          body: store.replace(t, placed(r, bodyObject(r)), {
            ...writing(r),
            statusOnly: r.subresource === 'status',
          }),
        };
      case 'PATCH':
        return patch(ctx, r, name);
      case 'DELETE':
        return remove(ctx, r, name);
    }
  }
  throw new KubeError(
    405,
    `the server does not allow this method on the requested resource`,
    'MethodNotAllowed',
  );
}
