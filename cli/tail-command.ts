/**
 * `nexus tail`: every message on the bus as it is persisted (admin), over one broker socket.
 *
 * States: `connecting` → `following` (once the broker confirms the subscription) → on a drop,
 * `reconnecting` → `following` again … → `ended` by Ctrl-C (exit 0), or by a failure a retry cannot
 * mend (exit non-zero, one line): the first connection refused or unreachable, the subscription
 * refused (not an admin), or the socket closed for good (token revoked).
 */
import type { Command } from 'commander';
import { BrokerUnreachableError, SocketClient, displayUrl, type ConnectFailure } from '../client/index.js';
import { WireError, type ErrorCode, type Message } from '../protocol/index.js';
import { connectionFromEnv } from './connection.js';
import { messageLine } from './output.js';

/** Close codes after which the client does not reconnect (socket-client's FINAL_CLOSES). */
const FINAL_CLOSES: Record<number, [ErrorCode, string]> = {
  4401: ['unauthenticated', 'the broker closed the socket: the token was revoked'],
  4403: ['stay_down', 'the broker closed the socket (stay-down)'],
  4409: ['conflict', 'the broker closed the socket: replaced by a newer one'],
};

/** Refusals of the hello or the subscription that mean the token is not an admin's. */
const NOT_ADMIN_CODES = new Set<ErrorCode>(['admin_required', 'forbidden', 'invalid_request']);

function failureError(url: string, failure: ConnectFailure): Error {
  if ('reason' in failure) return new BrokerUnreachableError(url, failure.reason);
  if (failure.status === 401)
    return new WireError('unauthenticated', `the broker at ${url} refused the token (401)`);
  return new WireError(
    failure.status >= 500 ? 'unavailable' : 'invalid_request',
    `the broker at ${url} refused the connection (HTTP ${failure.status})`,
  );
}

function render(message: Message, json: boolean): string {
  return json ? JSON.stringify(message) : messageLine(message);
}

export function registerTailCommand(program: Command): void {
  program
    .command('tail')
    .description('print every message on the bus as it is persisted, until Ctrl-C (admin)')
    .option('--json', 'print one JSON object per line')
    .action(async (options: { json?: boolean }) => {
      const { url, token } = connectionFromEnv();
      const shown = displayUrl(url);
      let state: 'connecting' | 'following' | 'reconnecting' | 'ended' = 'connecting';
      let socket: SocketClient | undefined;
      await new Promise<void>((resolve, reject) => {
        const end = () => {
          state = 'ended';
          socket?.close();
        };
        const fail = (err: Error) => {
          end();
          reject(err);
        };
        const note = (text: string) => process.stderr.write(`${text}\n`);
        socket = new SocketClient({
          url,
          token,
          onConnectFailure: (failure) => {
            if (state === 'ended') return;
            // At first a failure is the answer (bad URL, bad token); later the broker may come back.
            if (state === 'connecting') return fail(failureError(shown, failure));
            if (state === 'following') {
              state = 'reconnecting';
              note(`lost the broker at ${shown}; reconnecting`);
            }
          },
          onClose: (code) => {
            if (state === 'ended') return;
            const final = FINAL_CLOSES[code];
            if (final) return fail(new WireError(...final));
            if (state === 'following') {
              state = 'reconnecting';
              note(`lost the broker at ${shown}; reconnecting`);
            }
          },
          onFrame: (frame) => {
            if (frame.type === 'welcome') socket?.raw({ type: 'subscribe', threads: '*' });
            else if (frame.type === 'subscribed') {
              note(
                `following every thread on ${shown}${state === 'reconnecting' ? ' again' : ''} (Ctrl-C to stop)`,
              );
              state = 'following';
            } else if (frame.type === 'error') {
              // Refused before following: nothing will change by waiting. The usual cause is the
              // token's kind (an aspect token's hello needs an instance, a worker's is refused).
              if (state !== 'following')
                return fail(
                  new WireError(
                    frame.code,
                    NOT_ADMIN_CODES.has(frame.code)
                      ? `${frame.message} (tail needs an admin token)`
                      : frame.message,
                  ),
                );
              note(`nexus: tail: ${frame.code}: ${frame.message}`);
            } else if (frame.type === 'observed') {
              process.stdout.write(`${render(frame.message, options.json ?? false)}\n`);
            }
          },
        });
        process.once('SIGINT', () => {
          end();
          resolve();
        });
      });
    });
}
