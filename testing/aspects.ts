import { randomUUID } from 'node:crypto';
import { BrokerClient, SocketClient } from '../client/index.js';
import type { Message } from '../protocol/index.js';

/** An admin client for a broker, from the bootstrap token. */
export function adminClient(url: string, token: string): BrokerClient {
  return new BrokerClient({ url, token });
}

/** Mints an aspect token for `name`. */
export async function mintAspectToken(
  admin: BrokerClient,
  name: string,
  extra: { admin?: boolean } = {},
): Promise<{ id: string; token: string }> {
  return admin.post('/v1/admin/tokens', { kind: 'aspect', aspect: name, ...extra });
}

/** A minimal valid aspect.json for tests. */
export function aspectConfig(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, context_mode: 'global', provider: { kind: 'scripted' }, ...extra };
}

/** The body of a register call for `name`. */
export function registerBody(
  name: string,
  instanceId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    ...aspectConfig(name, extra),
    instance_id: instanceId,
    pid: process.pid,
    started_at: new Date().toISOString(),
    runtime_version: 'test',
  };
}

export interface TestAspect {
  name: string;
  token: string;
  tokenId: string;
  instanceId: string;
  http: BrokerClient;
  /** Messages received, de-duplicated by id as a runtime does. */
  received: Message[];
  /** How many deliveries were dropped as duplicates (allowed: delivery is at least once). */
  duplicates: number;
  /** The close code of every socket close the aspect saw, oldest first. */
  closes: number[];
  socket: SocketClient | null;
  /** Opens the socket on `url` (resuming after what it received), and waits for welcome. */
  connect(url: string, options?: { autoAck?: boolean }): Promise<SocketClient>;
}

/** Mints a token, registers `name` on `url` and returns a handle; `connect` opens its socket. */
export async function createAspect(url: string, admin: BrokerClient, name: string): Promise<TestAspect> {
  const { id, token } = await mintAspectToken(admin, name);
  const instanceId = randomUUID();
  const http = new BrokerClient({ url, token });
  await http.post('/v1/aspects/register', registerBody(name, instanceId));
  const aspect: TestAspect = {
    name,
    token,
    tokenId: id,
    instanceId,
    http,
    received: [],
    duplicates: 0,
    closes: [],
    socket: null,
    async connect(socketUrl, options = {}) {
      aspect.socket?.close();
      const last = aspect.received.at(-1)?.id;
      const socket = new SocketClient({
        url: socketUrl,
        token,
        instanceId,
        ...(last ? { resumeAfter: last } : {}),
        ...(options.autoAck === undefined ? {} : { autoAck: options.autoAck }),
        onClose: (code) => aspect.closes.push(code),
        onMessage: (m) => {
          const last = aspect.received.at(-1);
          if (last && BigInt(m.id) <= BigInt(last.id)) aspect.duplicates++;
          else aspect.received.push(m);
        },
      });
      aspect.socket = socket;
      await socket.opened();
      return socket;
    },
  };
  return aspect;
}
