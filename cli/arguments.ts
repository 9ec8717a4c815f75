import { InvalidArgumentError } from 'commander';

/** The number a string of decimal digits spells, else NaN (`Number` would take '', '0x10', '1e3'). */
function digits(value: string): number {
  return /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
}

/** A TCP port, 0 meaning "any free port". */
export function parsePort(value: string): number {
  const port = digits(value);
  if (!(port >= 0 && port <= 65_535)) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return port;
}

/** A positive integer argument. */
export function parsePositiveInt(value: string): number {
  const n = digits(value);
  if (!(n >= 1)) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Seconds the broker waits for a runtime's answer: 0 to 300 (B.12's `wait_s`). */
export function parseWaitSeconds(value: string): number {
  const n = digits(value);
  if (!(n >= 0 && n <= 300)) throw new InvalidArgumentError('must be whole seconds from 0 to 300');
  return n;
}

/** An integer argument from `min` to `max`. */
export function intInRange(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = digits(value);
    if (!(n >= min && n <= max)) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}
