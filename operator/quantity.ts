/**
 * Kubernetes resource quantities ("1Gi", "500m", "1e3", 2) compared by value: the API server
 * stores them in canonical form ("0.5" comes back as "500m"), so a textual compare would patch
 * the same StatefulSet on every reconcile.
 */

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL_EXPONENT: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E))?$/;

/** A quantity in nano-units (exact, as the API server keeps them), or null if it is not one. */
export function parseQuantity(value: unknown): bigint | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    value = String(value);
  }
  if (typeof value !== 'string') return null;
  const match = QUANTITY.exec(value.trim());
  if (!match) return null;
  const [, sign, number, binary, exponent, decimal] = match;
  const [whole, fraction = ''] = number!.split('.');
  // The number as digits × 10^(power - 9), in nanos.
  let digits = BigInt(`${whole || '0'}${fraction}` || '0');
  let power = -fraction.length + 9;
  if (binary) digits *= BINARY[binary]!;
  if (exponent) power += Number(exponent.slice(1));
  if (decimal !== undefined) power += DECIMAL_EXPONENT[decimal]!;
  const scaled = power >= 0 ? digits * 10n ** BigInt(power) : ceilDiv(digits, 10n ** BigInt(-power));
  return sign === '-' ? -scaled : scaled;
}

/** Whether two values are the same quantity (false when either is not a quantity). */
export function sameQuantity(a: unknown, b: unknown): boolean {
  const x = parseQuantity(a);
  return x !== null && x === parseQuantity(b);
}

/** The API server rounds sub-nano precision up. */
function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}
