import type { Message } from '../protocol/index.js';
import type { TestAspect } from './aspects.js';
import { waitUntil } from './wait.js';

/** Waits until `receiver` holds every id of `accepted`; resolves with the ids still missing when time runs out. */
export async function missingDeliveries(
  receiver: TestAspect,
  accepted: readonly string[],
  timeoutMs = 30_000,
): Promise<string[]> {
  const missing = () => {
    const got = new Set(receiver.received.map((m) => m.id));
    return accepted.filter((id) => !got.has(id));
  };
  await waitUntil(() => missing().length === 0, {
    timeoutMs,
    what: `${receiver.name} to receive all ${accepted.length} acknowledged messages`,
  }).catch(() => undefined); // the caller asserts on what is missing, which says more than a timeout
  return missing();
}

/**
 * Whether messages are in strictly ascending id order. TestAspect drops a delivery whose id is not
 * above the last one as a duplicate (as a runtime does), so a message delivered out of order goes
 * missing: received ascending and nothing missing together mean delivered in id order.
 */
export function inIdOrder(messages: readonly Message[]): boolean {
  return messages.every((m, i) => i === 0 || BigInt(m.id) > BigInt((messages[i - 1] as Message).id));
}
