import { pino, type Logger } from 'pino';

export type { Logger };

/** Field names whose values are secrets wherever they appear in a log record. */
const SECRET_KEYS = [
  'token',
  'authorization',
  'value',
  'secret',
  'password',
  'api_key',
  'apiKey',
  'NEXUS_TOKEN',
];

/** Patterns of our token formats and bearer headers, scrubbed from every string we log. */
const TOKEN_PATTERN = /\bnx[awo]_[A-Za-z0-9_-]{16,}/g;
const BEARER_PATTERN = /(Bearer\s+)[^\s"]+/gi;

/** Replaces anything that looks like a Nexus token or a bearer credential inside free text. */
export function scrubSecrets(text: string): string {
  return text.replace(TOKEN_PATTERN, '[REDACTED]').replace(BEARER_PATTERN, '$1[REDACTED]');
}

/**
 * A pino JSON logger with redaction on by default: known secret keys are censored at any depth
 * up to three levels, and messages are scrubbed of token-shaped strings.
 */
export function createLogger(options: {
  name: string;
  level?: string;
  destination?: NodeJS.WritableStream;
}): Logger {
  const paths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths, censor: '[REDACTED]' },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)) as Parameters<typeof method>,
          );
        },
      },
      formatters: {
        log(record) {
          // pino has already serialised `err`; its message and stack may quote a token.
          const err = record.err as { type?: unknown; message?: unknown; stack?: unknown } | undefined;
          if (err && typeof err === 'object') {
            return {
              ...record,
              err: {
                ...err,
                ...(typeof err.message === 'string' ? { message: scrubSecrets(err.message) } : {}),
                ...(typeof err.stack === 'string' ? { stack: scrubSecrets(err.stack) } : {}),
              },
            };
          }
          return record;
        },
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ dest: 2, sync: false }),
  );
}
