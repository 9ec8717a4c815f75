import { InvalidArgumentError } from 'commander';

/** A TCP port, 0 meaning "any free port". */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return port;
}

/** A positive integer argument. */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Seconds the broker waits for a runtime's answer: 0 to 300 (B.12's `wait_s`). */
export function parseWaitSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 300)
    throw new InvalidArgumentError('must be whole seconds from 0 to 300');
  return n;
}
