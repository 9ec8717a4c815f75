import { randomUUID } from 'node:crypto';
import { BrokerClient } from '../../client/index.js';
import { mintAspectToken, registerBody } from '../../testing/index.js';
import { mapLimit } from './setup.js';

/** A registered aspect: what a socket needs to pass hello. */
export interface BenchAspect {
  name: string;
  token: string;
  tokenId: string;
  instanceId: string;
}

/** Mints a token for each name and registers it on `url`, `concurrency` at a time. */
export async function registerAspects(
  url: string,
  admin: BrokerClient,
  names: readonly string[],
  concurrency = 8,
): Promise<BenchAspect[]> {
  return mapLimit(names, concurrency, async (name) => {
    const { id, token } = await mintAspectToken(admin, name);
    const instanceId = randomUUID();
    await new BrokerClient({ url, token }).post('/v1/aspects/register', registerBody(name, instanceId));
    return { name, token, tokenId: id, instanceId };
  });
}

/** `prefix00`, `prefix01`, …: DNS-1123 names that sort in creation order. */
export function names(prefix: string, count: number): string[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`);
}

/** A content string of exactly `bytes` ASCII bytes that starts with `tag` (for matching receipts). */
export function content(tag: string, bytes: number): string {
  return tag.length >= bytes ? tag : tag + ' ' + 'x'.repeat(bytes - tag.length - 1);
}
