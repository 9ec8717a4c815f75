/**
 * The operator's one door to the API server for everything but watches: the credentials and TLS
 * of a client-node `KubeConfig` (`KUBECONFIG`, `~/.kube/config`, or in-cluster), client-node's
 * own fetch library, and around every request the token bucket of B.72 and a count per verb and
 * status for `nexus_operator_kube_requests_total`.
 *
 * Requests are plain JSON over REST paths from resources.ts, so a merge patch really is sent as
 * `application/merge-patch+json` (B.31) and the status subresource is written directly. Failures
 * come back as `KubeApiError` (errors.ts) carrying the API server's Status reason and message.
 */
import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  RequestContext,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../platform/index.js';
import { KubeApiError, KubeClientStopped, KubeInvalid } from './errors.js';
import type { TokenBucket } from './rate-limiter.js';

/** The verbs of `nexus_operator_kube_requests_total{verb}`, as kube-apiserver names them. */
export type KubeVerb = 'get' | 'list' | 'create' | 'patch' | 'update' | 'delete';

const METHODS: Record<KubeVerb, HttpMethod> = {
  get: HttpMethod.GET,
  list: HttpMethod.GET,
  create: HttpMethod.POST,
  patch: HttpMethod.PATCH,
  update: HttpMethod.PUT,
  delete: HttpMethod.DELETE,
};

export const MERGE_PATCH = 'application/merge-patch+json';

/** client-go retries a Retry-After answer up to 10 times; a reconcile should not wait that long. */
const MAX_RETRY_AFTER_ATTEMPTS = 3;
const MAX_RETRY_AFTER_S = 30;

export interface KubeRequest {
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Defaults to `application/json` for a body. */
  contentType?: string;
}

export interface KubeClientOptions {
  kubeConfig: KubeConfig;
  limiter?: TokenBucket;
  /** Called once per request with its verb and the HTTP status, or `error` when none came. */
  onRequest?: (verb: KubeVerb, code: string) => void;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** Retries of an answer with Retry-After (default 3); 0 for a caller with a deadline of its own. */
  retryAfterAttempts?: number;
}

/**
 * `KUBECONFIG` (or `~/.kube/config`) when present, else the in-cluster service account. Without
 * either, client-node would quietly aim at http://localhost:8080; this says so instead.
 */
export function loadKubeConfig(env: Record<string, string | undefined> = process.env): KubeConfig {
  const home = env.HOME ?? os.homedir();
  const defaultFile = path.join(home, '.kube', 'config');
  if (!env.KUBECONFIG && !env.KUBERNETES_SERVICE_HOST && !existsSync(defaultFile))
    throw new ConfigError(
      `no Kubernetes cluster: set KUBECONFIG, create ${defaultFile}, or run in a pod with a service account`,
    );
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromDefault();
  } catch (err) {
    throw new ConfigError(`the Kubernetes configuration could not be loaded: ${(err as Error).message}`);
  }
  if (!kubeConfig.getCurrentCluster())
    throw new ConfigError('the Kubernetes configuration names no current cluster (set its current-context)');
  return kubeConfig;
}

export class KubeClient {
  private readonly http = new IsomorphicFetchHttpLibrary();
  private readonly stopping = new AbortController();
  /** One connection pool for every request (client-node makes a new agent per request). */
  private dispatcher: ReturnType<RequestContext['getDispatcher']>;

  constructor(private readonly options: KubeClientOptions) {}

  get kubeConfig(): KubeConfig {
    return this.options.kubeConfig;
  }

  /**
   * Sends one request and returns its parsed JSON body (undefined when empty). An answer 429 (or
   * 5xx) with `Retry-After` is retried after that long, a few times, as client-go does: the server
   * said when to come back, and the reconcile's own backoff may be shorter (B.72).
   */
  async request<T = unknown>(verb: KubeVerb, path: string, request: KubeRequest = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { status, body, retryAfterS } = await this.send(verb, path, request);
      if (status < 400) return body as T;
      const attempts = this.options.retryAfterAttempts ?? MAX_RETRY_AFTER_ATTEMPTS;
      if (retryAfterS === undefined || attempt > attempts) throw errorOf(status, body, `${verb} ${path}`);
      try {
        await sleep(retryAfterS * 1000, undefined, { signal: this.stopping.signal });
      } catch {
        throw new KubeClientStopped();
      }
    }
  }

  private async send(
    verb: KubeVerb,
    path: string,
    request: KubeRequest,
  ): Promise<{ status: number; body: unknown; retryAfterS: number | undefined }> {
    const label = `${verb} ${path}`;
    if (this.stopping.signal.aborted) throw new KubeClientStopped();
    await this.options.limiter?.take();
    if (this.stopping.signal.aborted) throw new KubeClientStopped();
    const cluster = this.options.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the KubeConfig has no current cluster');
    const url = new URL(cluster.server.replace(/\/$/, '') + path);
    for (const [key, value] of Object.entries(request.query ?? {}))
      if (value !== undefined) url.searchParams.set(key, value);

    const context = new RequestContext(url.toString(), METHODS[verb]);
    context.setHeaderParam('Accept', 'application/json');
    if (request.body !== undefined) {
      context.setHeaderParam('Content-Type', request.contentType ?? 'application/json');
      context.setBody(JSON.stringify(request.body));
    }
    await this.options.kubeConfig.applySecurityAuthentication(context);
    if (this.dispatcher) context.setDispatcher(this.dispatcher);
    else this.dispatcher = context.getDispatcher();
    context.setSignal(
      AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.options.timeoutMs ?? 30_000)]),
    );

    let status: number;
    let text: string;
    let retryAfter: string | undefined;
    try {
      const response = await this.http.send(context).toPromise();
      status = response.httpStatusCode;
      retryAfter = response.headers['retry-after'];
      text = await response.body.text();
    } catch (err) {
      this.options.onRequest?.(verb, 'error');
      if (this.stopping.signal.aborted) throw new KubeClientStopped();
      throw new KubeApiError(0, causeOf(err), 'the API server did not answer', label, { cause: err });
    }
    this.options.onRequest?.(verb, String(status));
    const throttled = status === 429 || status >= 500;
    return {
      status,
      body: parseJson(text),
      retryAfterS: throttled ? retryAfterSeconds(retryAfter) : undefined,
    };
  }

  /** Lists a collection (for informers): `labelSelector` narrows it. */
  list<T extends KubernetesObject>(path: string, labelSelector?: string): Promise<KubernetesListObject<T>> {
    return this.request<KubernetesListObject<T>>('list', path, { query: { labelSelector } });
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** Aborts what is in flight and refuses what comes after (a lost lease, a shutdown). */
  stop(): void {
    this.stopping.abort();
    this.options.limiter?.stop();
  }
}

/** `Retry-After` in seconds (the API server sends seconds, never a date), capped; else undefined. */
function retryAfterSeconds(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(Number(header), MAX_RETRY_AFTER_S);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A `KubeApiError` from a Status body (`{kind: Status, code, reason, message}`). */
function errorOf(status: number, body: unknown, label: string): KubeApiError {
  const s = (typeof body === 'object' && body !== null ? body : {}) as {
    reason?: unknown;
    message?: unknown;
  };
  const reason = typeof s.reason === 'string' && s.reason !== '' ? s.reason : `HTTP ${status}`;
  const message =
    typeof s.message === 'string' ? s.message : typeof body === 'string' ? body.slice(0, 500) : '';
  return status === 422
    ? new KubeInvalid(status, reason, message, label)
    : new KubeApiError(status, reason, message, label);
}

/** The system error code under a failed fetch (ECONNREFUSED, TimeoutError …). */
function causeOf(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError') return 'TimeoutError';
  }
  return 'network error';
}
