import { z } from 'zod';

/** Aspect names are DNS-1123 labels of at most 52 characters (a StatefulSet name limit, SPEC B.65). */
export const AspectName = z
  .string()
  .max(52, 'must be at most 52 characters')
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lowercase letters, digits, "-")');
export type AspectName = z.infer<typeof AspectName>;

/**
 * The sender of the messages the broker writes itself, such as the turn-limit note (B.84): no
 * aspect or admin token may take this name.
 */
export const BROKER_SENDER = 'nexus';
/** Why a name is refused when it is the broker's own (B.84). */
export const RESERVED_NAME_MESSAGE = `"${BROKER_SENDER}" is reserved for the messages the broker writes`;

/** An operator (admin token) is addressed as `op:NAME` (SPEC Appendix A, B.4). */
export const OperatorAddress = z.string().regex(/^op:[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be op:NAME');

/** Anything a message can be addressed to: an aspect name or an operator mailbox. */
export const Address = z.union([AspectName, OperatorAddress], {
  error: 'must be an aspect name (DNS-1123 label) or op:NAME',
});
export type Address = z.infer<typeof Address>;

/** Broker ids (messages, threads, tokens, audit rows) are decimal strings of 64-bit integers. */
export const DecimalId = z
  .string()
  // `abort`: the range check below converts with BigInt, which throws on anything but digits.
  .regex(/^(0|[1-9][0-9]{0,18})$/, { message: 'must be a decimal id string', abort: true })
  .refine((s) => BigInt(s) <= 9223372036854775807n, 'must fit in 64 bits');
export type DecimalId = z.infer<typeof DecimalId>;

/** Client-chosen instance ids: printable, bounded, no whitespace. */
export const InstanceId = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** W3C trace context `traceparent` header value. */
export const Traceparent = z
  .string()
  .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'must be a W3C traceparent');

export const IsoTime = z.iso.datetime({ offset: true });

/** Byte length of a string as UTF-8: the unit of every content limit. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Content limit of SPEC section 5 and B.37. */
export const MAX_CONTENT_BYTES = 256 * 1024;

/** Message content: text of at most 256 KiB of UTF-8. */
export const Content = z
  .string()
  .refine((s) => utf8Bytes(s) <= MAX_CONTENT_BYTES, 'must be at most 256 KiB of UTF-8');

/**
 * Free JSON (message `input`, `metadata`, scripts, event data) nests at most this deep: a 1 MiB body
 * can nest 500,000 levels, which parses but overflows the stack of everything that walks it after
 * (`JSON.stringify`, canonical JSON, the Postgres driver).
 */
export const MAX_JSON_DEPTH = 64;
const DEPTH_RULE = `must nest at most ${MAX_JSON_DEPTH} levels deep`;

/** Whether `value` nests arrays and objects more than `max` levels deep; walks without recursion. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, level] = next;
    if (item === null || typeof item !== 'object') continue;
    if (level > max) return true;
    for (const child of Object.values(item)) stack.push([child, level + 1]);
  }
  return false;
}

/** Free JSON of bounded depth. `abort`: size checks after this one serialise the value. */
export const JsonValue = z.unknown().refine((v) => !nestsDeeperThan(v, MAX_JSON_DEPTH), {
  message: DEPTH_RULE,
  abort: true,
});

/** A JSON object of free fields (metadata, input schemas, event data), of bounded depth. */
export const JsonObject = z
  .record(z.string(), z.unknown())
  .refine((v) => !nestsDeeperThan(v, MAX_JSON_DEPTH), { message: DEPTH_RULE, abort: true });

/** Free JSON carried alongside content (`input`), at most 256 KiB serialised. */
export const JsonInput = JsonValue.refine((v) => v !== undefined, 'is required').refine(
  (v) => utf8Bytes(JSON.stringify(v) ?? '') <= MAX_CONTENT_BYTES,
  'must be at most 256 KiB as JSON',
);
