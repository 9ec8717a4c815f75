import { z } from 'zod';
import { Address, AspectName, Content, DecimalId } from './names.js';

/** The smallest `every_s` of an alarm (B.27); brokers may lower it for tests only (docs/team.md). */
export const MIN_ALARM_EVERY_S = 10;
/** The largest `every_s`: a year. */
export const MAX_ALARM_EVERY_S = 366 * 86_400;

/** Years Postgres and JavaScript both store without surprise (Postgres refuses year 0). */
function inStoredRange(iso: string): boolean {
  const ms = Date.parse(iso);
  return ms >= Date.UTC(1970, 0, 1) && ms < Date.UTC(10_000, 0, 1);
}

/**
 * `POST /v1/alarms` (B.27) with `every_s` at least `minEveryS`. At least one of `at` (the first
 * firing) and `every_s` (the period) is given; with both, the alarm first fires at `at`.
 */
export function alarmRequestSchema(minEveryS = MIN_ALARM_EVERY_S) {
  return z
    .strictObject({
      to: z
        .array(Address)
        .min(1, 'must name at least one recipient')
        .max(100, 'must name at most 100 recipients'),
      content: Content,
      thread_id: DecimalId.optional(),
      at: z.iso
        .datetime({
          offset: true,
          error: 'must be an ISO-8601 time with an offset, e.g. 2026-05-01T09:00:00Z',
        })
        .refine(inStoredRange, 'must be a time from 1970 to 9999')
        .optional(),
      every_s: z
        .number({ error: 'must be a whole number of seconds' })
        .int('must be a whole number of seconds')
        .min(minEveryS, `must be at least ${minEveryS}`)
        .max(MAX_ALARM_EVERY_S, `must be at most ${MAX_ALARM_EVERY_S} (a year)`)
        .optional(),
    })
    .refine((body) => body.at !== undefined || body.every_s !== undefined, {
      path: ['at'],
      message: 'give at, every_s or both',
    });
}

/** `POST /v1/alarms` with the default minimum period. */
export const AlarmRequest = alarmRequestSchema();
export type AlarmRequest = z.infer<typeof AlarmRequest>;

/** `201` of `POST /v1/alarms`. */
export const AlarmReply = z.object({ id: DecimalId, next_at: z.string() });
export type AlarmReply = z.infer<typeof AlarmReply>;

/** An alarm as `GET /v1/alarms` lists it; `next_at` is null once a one-shot alarm has fired. */
export const Alarm = z.object({
  id: DecimalId,
  owner: z.string(),
  to: z.array(z.string()),
  content: z.string(),
  thread_id: DecimalId.optional(),
  at: z.string().optional(),
  every_s: z.number().int().optional(),
  next_at: z.string().nullable(),
  fired: z.number().int(),
  last_fired_at: z.string().optional(),
  created_at: z.string(),
});
export type Alarm = z.infer<typeof Alarm>;

export const AlarmListReply = z.object({ alarms: z.array(Alarm) });
export type AlarmListReply = z.infer<typeof AlarmListReply>;

/** `GET /v1/alarms` takes no parameters. */
export const AlarmListQuery = z.strictObject({});

/** The path of `DELETE /v1/alarms/:id`. */
export const AlarmPath = z.object({ id: DecimalId });

/** `PUT /v1/admin/expected-roster` (B.24): the aspects `source` expects to be live, replacing its list. */
export const ExpectedRosterRequest = z.strictObject({
  source: z.string().min(1, 'must not be empty').max(253, 'must be at most 253 characters'),
  aspects: z.array(AspectName).max(10_000, 'must name at most 10000 aspects'),
});
export type ExpectedRosterRequest = z.infer<typeof ExpectedRosterRequest>;
