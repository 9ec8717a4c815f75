/**
 * The operator's side of the broker admin API (B.24, B.25, B.95): `BrokerAdmin` over HTTP with the
 * operator's admin token. The token is read from its source on every call (a mounted Secret may be
 * rotated; B.72), and a 401 is tried once more with a fresh read before it is believed.
 *
 * Failures come in two families, which the reconcile tells apart:
 * - `BrokerUnavailable`: the broker could not answer now (connection refused, timeout, 5xx, 429).
 *   Transient: keep the phase, set a condition, retry with backoff (B.63).
 * - `WireError`: the broker answered and refused (400, 403, 409 …): the request itself is wrong;
 *   so is a 503 from a broker without NEXUS_SECRET_KEY (its credential store is off by design).
 * Removals that find nothing to remove (a token, a grant, a roster entry already gone) succeed: the
 * operator asks for a state, not for an action.
 */
import { WebSocket } from 'ws';
import { BrokerClient, BrokerUnreachableError, displayUrl } from '../client/index.js';
import {
  CredentialListReply,
  WelcomeFrame,
  WireError,
  type Identity,
  type MintTokenReply,
  type RosterEntry,
  type TokenInfo,
} from '../protocol/index.js';
import type { BrokerAdmin, BrokerToken } from './types.js';

/** The broker could not answer now; retry later. Never carries a token. */
export class BrokerUnavailable extends Error {
  readonly retryable = true;
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`the broker is unavailable: ${reason}`, options);
    this.name = 'BrokerUnavailable';
  }
}

export interface OperatorBrokerOptions {
  url: string;
  /** Reads the admin token; called for every request, so a rewritten file is picked up. */
  token: () => string;
  timeoutMs?: number;
  /** How long one listing of credentials serves `grantsTo` for every Aspect (default 1 s). */
  credentialCacheMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** `BrokerAdmin` over HTTP, plus `whoAmI` for the operator's own token name (B.95's `granted_by`). */
export class OperatorBrokerClient implements BrokerAdmin {
  private readonly http: BrokerClient;
  private credentials: { at: number; list: Promise<CredentialListReply['credentials']> } | null = null;

  constructor(private readonly options: OperatorBrokerOptions) {
    this.http = new BrokerClient({
      url: options.url,
      token: options.token,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  }

  async listTokens(filter: { aspect?: string; kind?: string }): Promise<BrokerToken[]> {
    const query = new URLSearchParams();
    if (filter.aspect !== undefined) query.set('aspect', filter.aspect);
    if (filter.kind !== undefined) query.set('kind', filter.kind);
    const path = `/v1/admin/tokens${query.size > 0 ? `?${query}` : ''}`;
    const reply = await this.call<{ tokens: TokenInfo[] }>('GET', path);
    return reply.body.tokens.map((t) => ({
      id: t.id,
      kind: t.kind,
      ...(t.aspect === undefined ? {} : { aspect: t.aspect }),
      ...(t.name === undefined ? {} : { name: t.name }),
      admin: t.admin,
      created_at: t.created_at,
      revoked_at: t.revoked_at ?? null,
    }));
  }

  async mintAspectToken(
    aspect: string,
    name: string,
    admin: boolean,
  ): Promise<{ id: string; token: string }> {
    const reply = await this.call<MintTokenReply>('POST', '/v1/admin/tokens', {
      kind: 'aspect',
      aspect,
      name,
      admin,
    });
    return { id: reply.body.id, token: reply.body.token };
  }

  async revokeToken(id: string): Promise<void> {
    await this.gone(() => this.call('DELETE', `/v1/admin/tokens/${encodeURIComponent(id)}`));
  }

  async deregister(aspect: string): Promise<void> {
    await this.gone(() => this.call('DELETE', `/v1/admin/aspects/${encodeURIComponent(aspect)}`));
  }

  async rosterEntry(
    aspect: string,
  ): Promise<{ status: 'live' | 'stale' | 'down'; last_heartbeat_at?: string } | undefined> {
    try {
      const { body } = await this.call<RosterEntry>('GET', `/v1/aspects/${encodeURIComponent(aspect)}`);
      return {
        status: body.status,
        ...(body.last_heartbeat ? { last_heartbeat_at: body.last_heartbeat } : {}),
      };
    } catch (err) {
      if (err instanceof WireError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  async grantsTo(aspect: string): Promise<{ credential: string; grantedBy: string }[]> {
    const credentials = await this.credentialList();
    return credentials.flatMap((c) =>
      c.grants
        .filter((g) => g.aspect === aspect)
        .map((g) => ({ credential: c.name, grantedBy: g.granted_by })),
    );
  }

  async grant(credential: string, aspect: string): Promise<void> {
    this.credentials = null;
    await this.call('POST', `/v1/credentials/${encodeURIComponent(credential)}/grants`, { aspect });
  }

  async revokeGrant(credential: string, aspect: string, grantedBy: string): Promise<void> {
    this.credentials = null;
    const path =
      `/v1/credentials/${encodeURIComponent(credential)}/grants/${encodeURIComponent(aspect)}` +
      `?granted_by=${encodeURIComponent(grantedBy)}`;
    await this.gone(() => this.call('DELETE', path));
  }

  async putExpectedRoster(source: string, aspects: string[]): Promise<void> {
    await this.call('PUT', '/v1/admin/expected-roster', { source, aspects });
  }

  /**
   * Who the token is, as the broker's `welcome` frame says (B.9): the name is what the broker
   * records as `granted_by` for an admin token (B.95). HTTP has no such call; one socket is opened
   * and closed.
   */
  whoAmI(): Promise<Identity> {
    const url = `${this.http.url.replace(/^http/, 'ws')}/v1/connect`;
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<Identity>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.options.token()}` } });
      const finish = (outcome: () => void) => {
        clearTimeout(timer);
        ws.removeAllListeners();
        ws.on('error', () => undefined); // a late error of the closing socket is of no interest
        ws.terminate();
        outcome();
      };
      const timer = setTimeout(
        () => finish(() => reject(new BrokerUnavailable(`no welcome within ${timeoutMs / 1000} s`))),
        timeoutMs,
      );
      ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        finish(() =>
          reject(
            status === 401
              ? new WireError('unauthenticated', 'the broker refused the operator token')
              : status >= 500 || status === 429
                ? new BrokerUnavailable(`the socket upgrade answered HTTP ${status}`)
                : new WireError('invalid_request', `the socket upgrade answered HTTP ${status}`),
          ),
        );
      });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello' })));
      ws.on('message', (data) => {
        let frame: unknown;
        try {
          frame = JSON.parse(String(data));
        } catch {
          return;
        }
        const welcome = WelcomeFrame.safeParse(frame);
        if (welcome.success) finish(() => resolve(welcome.data.identity));
      });
      ws.on('error', (err) => finish(() => reject(new BrokerUnavailable(err.message, { cause: err }))));
      ws.on('close', (code) =>
        finish(() => reject(new BrokerUnavailable(`the socket closed (${code}) before welcome`))),
      );
    });
  }

  /** Every credential with its grants, shared by the Aspects reconciled within a short window. */
  private credentialList(): Promise<CredentialListReply['credentials']> {
    const now = Date.now();
    const ttl = this.options.credentialCacheMs ?? 1000;
    if (this.credentials && now - this.credentials.at < ttl) return this.credentials.list;
    const list = this.call<CredentialListReply>('GET', '/v1/credentials').then(
      (reply) => reply.body.credentials,
      (err: unknown) => {
        // A broker without NEXUS_SECRET_KEY has no credential store: nothing is granted.
        if (isNoSecretKey(err)) return [];
        throw err;
      },
    );
    const entry = { at: now, list };
    this.credentials = entry;
    list.catch(() => {
      if (this.credentials === entry) this.credentials = null; // a failure is not remembered
    });
    return list;
  }

  /** Runs a removal; "not found" means it is already as asked. */
  private async gone(remove: () => Promise<unknown>): Promise<void> {
    try {
      await remove();
    } catch (err) {
      if (err instanceof WireError && err.code === 'not_found') return;
      throw err;
    }
  }

  /** One call, a 401 retried once with the token read again, failures sorted into the two families. */
  private async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.http.call<T>(method, path, body);
      } catch (err) {
        if (err instanceof WireError && err.code === 'unauthenticated' && attempt === 1) continue;
        throw sorted(err, this.http.url);
      }
    }
  }
}

function sorted(err: unknown, url: string): unknown {
  if (err instanceof BrokerUnreachableError)
    return new BrokerUnavailable(`${err.reason} at ${displayUrl(url)}`, { cause: err });
  // A broker without NEXUS_SECRET_KEY is configured so: a refusal no retry mends, not an outage.
  if (isNoSecretKey(err)) return err;
  if (err instanceof WireError && (err.status >= 500 || err.code === 'rate_limited'))
    return new BrokerUnavailable(`${err.status} ${err.code}: ${err.message}`, { cause: err });
  return err;
}

function isNoSecretKey(err: unknown): err is WireError {
  return (
    err instanceof WireError && (err.details as { reason?: string } | undefined)?.reason === 'no_secret_key'
  );
}
