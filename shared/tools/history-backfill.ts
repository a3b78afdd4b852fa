/**
 * History back-fill: days of generated page views before a given hour, appended to the event
 * log, so a first run has a past for the batch layer to cover (cli/start.ts, on a fresh
 * DATA_DIR with the generator on).
 *
 * The events come from the live pump's TrafficGenerator with the same options (site, pages,
 * visitors, visit fields), so history and live traffic look alike and visitors return across
 * days; only the seed differs, so no event id of the history is one of the live pump's.
 * Their times follow a daily shape in UTC: quiet at night (lowest around 03:00), busiest in
 * the afternoon (around 15:00), a fifth less at weekends. The number of events of each hour
 * is fixed by that shape (largest remainders, so the total is exactly days × eventsPerDay);
 * within an hour, times are drawn uniformly and appended in time order.
 *
 * Deterministic for a seed and an end hour; bounded (at most 60 days × 100,000 events a day,
 * the ranges of GENERATOR_HISTORY_DAYS and GENERATOR_HISTORY_EVENTS_PER_DAY); appended in
 * batches of `appendBatchSize` (one durable write each), generated batch by batch.
 */
import { encodePageView, pageViewKey, type PageView } from '../core/page-view.ts';
import { isBucketEdge } from '../core/time-buckets.ts';
import type { EventLog, LogMessage } from '../adapters/event-log/index.ts';
import { ENVIRONMENT_VARIABLES as ENV, type NumberKind } from '../runtime/environment.ts';
import { TrafficGenerator, mulberry32, type TrafficOptions } from './traffic-generator.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface HistoryBackfillOptions extends TrafficOptions {
  /** Exclusive end of the history (epoch ms, on a UTC hour): every event is before it. */
  until: number;
  /** Days of history before `until`. @default 7 (GENERATOR_HISTORY_DAYS) */
  days?: number;
  /** Events per day on average; the total is exactly days × eventsPerDay. @default GENERATOR_HISTORY_EVENTS_PER_DAY's default (9000) */
  eventsPerDay?: number;
  /** @default HISTORY_BACKFILL_DEFAULTS.seed (not the live pump's seed) */
  seed?: number;
  /** Messages per append. @default 5000 */
  appendBatchSize?: number;
}

/** The defaults; days and events per day are those of their environment variables (environment.ts). */
export const HISTORY_BACKFILL_DEFAULTS = {
  days: ENV.GENERATOR_HISTORY_DAYS.default,
  eventsPerDay: ENV.GENERATOR_HISTORY_EVENTS_PER_DAY.default,
  seed: 0x4a57,
  appendBatchSize: 5000,
} as const;

/** Weekend traffic relative to a weekday's. */
export const WEEKEND_FACTOR = 0.8;

/**
 * The relative traffic of the UTC hour starting at `hourStart`: a raised cosine over the day,
 * 0.15 around 03:00 UTC and 1 around 15:00 UTC, times WEEKEND_FACTOR on Saturday and Sunday.
 */
export function hourWeight(hourStart: number): number {
  const date = new Date(hourStart);
  const hour = date.getUTCHours() + 0.5; // the middle of the hour
  const diurnal = 0.15 + 0.85 * ((1 - Math.cos((2 * Math.PI * (hour - 3)) / 24)) / 2);
  const day = date.getUTCDay();
  return diurnal * (day === 0 || day === 6 ? WEEKEND_FACTOR : 1);
}

export interface HistoryPlan {
  /** First hour of the history (inclusive), epoch ms. */
  from: number;
  /** End of the history (exclusive), epoch ms. */
  to: number;
  /** Events per hour, in time order: hours[i] starts at from + i hours. */
  hours: number[];
  total: number;
}

interface Resolved {
  until: number;
  days: number;
  eventsPerDay: number;
  seed: number;
  appendBatchSize: number;
  traffic: TrafficOptions;
}

function resolve(options: HistoryBackfillOptions): Resolved {
  const { until, days, eventsPerDay, seed, appendBatchSize, ...traffic } = options;
  const r: Resolved = {
    until,
    days: days ?? HISTORY_BACKFILL_DEFAULTS.days,
    eventsPerDay: eventsPerDay ?? HISTORY_BACKFILL_DEFAULTS.eventsPerDay,
    seed: seed ?? HISTORY_BACKFILL_DEFAULTS.seed,
    appendBatchSize: appendBatchSize ?? HISTORY_BACKFILL_DEFAULTS.appendBatchSize,
    traffic,
  };
  if (!Number.isSafeInteger(until) || !isBucketEdge(until, 'hour')) throw new RangeError(`until must be on a UTC hour, got ${new Date(until).toISOString()}`);
  const checks: [string, number, NumberKind][] = [
    ['days', r.days, ENV.GENERATOR_HISTORY_DAYS.kind],
    ['eventsPerDay', r.eventsPerDay, ENV.GENERATOR_HISTORY_EVENTS_PER_DAY.kind],
  ];
  for (const [name, value, kind] of checks) {
    const issue = kind.schema.safeParse(value).error?.issues[0];
    if (issue !== undefined) throw new RangeError(`history back-fill option '${name}' ${issue.message}, got ${value}`);
  }
  if (!Number.isSafeInteger(r.appendBatchSize) || r.appendBatchSize < 1) throw new RangeError(`appendBatchSize must be a whole number of at least 1, got ${r.appendBatchSize}`);
  return r;
}

/** How many events each hour of the history gets (writes nothing, draws nothing). */
export function planHistory(options: HistoryBackfillOptions): HistoryPlan {
  const { until, days, eventsPerDay } = resolve(options);
  const from = until - days * DAY_MS;
  const total = days * eventsPerDay;
  const weights = Array.from({ length: days * 24 }, (_, i) => hourWeight(from + i * HOUR_MS));
  const sum = weights.reduce((a, b) => a + b, 0);
  // Largest remainders: each hour gets the floor of its share, the hours with the largest
  // fractions one more, until the total is exact (ties to the earlier hour).
  const shares = weights.map((w) => (total * w) / sum);
  const hours = shares.map(Math.floor);
  let left = total - hours.reduce((a, b) => a + b, 0);
  const byFraction = shares.map((s, i) => [s - Math.floor(s), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of byFraction) {
    if (left <= 0) break;
    hours[i]! += 1;
    left -= 1;
  }
  return { from, to: until, hours, total };
}

/** The history's events, in time order. */
export function* historyEvents(options: HistoryBackfillOptions): Generator<PageView> {
  const r = resolve(options);
  const plan = planHistory(options);
  const generator = new TrafficGenerator({ ...r.traffic, seed: r.seed });
  // Times come from a PRNG of their own, so the events are the generator's sequence for the seed.
  const random = mulberry32(r.seed ^ 0x7f4a7c15);
  for (let i = 0; i < plan.hours.length; i++) {
    const hourStart = plan.from + i * HOUR_MS;
    const times = Array.from({ length: plan.hours[i]! }, () => hourStart + Math.floor(random() * HOUR_MS)).sort((a, b) => a - b);
    for (const time of times) yield generator.next(time);
  }
}

export interface HistoryBackfillResult {
  events: number;
  from: number;
  to: number;
  durationMs: number;
}

/** Appends the history to the log in batches; resolves once every batch is durable. */
export async function backfillHistory(
  log: Pick<EventLog, 'append'>,
  options: HistoryBackfillOptions,
  onProgress?: (appended: number, total: number) => void,
): Promise<HistoryBackfillResult> {
  const started = Date.now();
  const { appendBatchSize } = resolve(options);
  const plan = planHistory(options);
  let batch: LogMessage[] = [];
  let appended = 0;
  for (const event of historyEvents(options)) {
    batch.push({ key: pageViewKey(event), value: encodePageView(event) });
    if (batch.length >= appendBatchSize) {
      await log.append(batch);
      appended += batch.length;
      batch = [];
      onProgress?.(appended, plan.total);
    }
  }
  if (batch.length > 0) {
    await log.append(batch);
    appended += batch.length;
    onProgress?.(appended, plan.total);
  }
  return { events: appended, from: plan.from, to: plan.to, durationMs: Date.now() - started };
}
