/**
 * Time ranges of the read API: period presets and default spans, computed from the query a
 * route's schema parsed (query-schemas.ts) and the clock.
 */
import type { Interval } from '../shared/core/time-buckets.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';

export interface TimeRange {
  from: number;
  to: number;
}

/** How far back `from` defaults to, per interval: an hour of minutes, a day of hours, 30 days. */
export const DEFAULT_SPAN_MS: Readonly<Record<Interval, number>> = {
  minute: 3_600_000,
  hour: 86_400_000,
  day: 30 * 86_400_000,
};

/**
 * The timeseries' intervals: the fixed-width buckets (time-buckets.ts), Plausible's `date` (the
 * same as `day`) and `month` (calendar months, UTC; they differ in length, see month-series.ts).
 */
export const TIMESERIES_INTERVALS = ['minute', 'hour', 'day', 'date', 'month'] as const;
export type TimeseriesInterval = Exclude<(typeof TIMESERIES_INTERVALS)[number], 'date'>;

export const PERIODS = ['day', '7d', '30d', 'month', '6mo', '12mo', 'custom'] as const;
export type Period = (typeof PERIODS)[number];

const DAY_MS = 86_400_000;

/** The `date` parameter, parsed: a reference day, or (period=custom) an inclusive range of days; UTC day starts, epoch ms. */
export type PeriodDate = { day: number } | { first: number; last: number };

/**
 * A period preset as a UTC range, relative to a reference day (`date`, default today), as
 * Plausible's Stats API defines them: `day` is that day, `7d` and `30d` end with it, `month` is
 * its calendar month, `6mo` and `12mo` the calendar months ending with its month; `custom` is
 * the inclusive range of days in `date`.
 */
export function periodRange(period: Period, now: number, date?: PeriodDate): TimeRange {
  if (period === 'custom') {
    if (date === undefined || !('first' in date)) throw new ApiError(400, 'PV_QUERY_INVALID', "period=custom needs date=YYYY-MM-DD,YYYY-MM-DD", [{ field: 'date', message: 'period=custom needs date=YYYY-MM-DD,YYYY-MM-DD' }]);
    return { from: date.first, to: date.last + DAY_MS };
  }
  const today = date !== undefined && 'day' in date ? date.day : Math.floor(now / DAY_MS) * DAY_MS;
  const tomorrow = today + DAY_MS;
  const day = new Date(today);
  const monthStart = (monthsBack: number): number => Date.UTC(day.getUTCFullYear(), day.getUTCMonth() - monthsBack, 1);
  switch (period) {
    case 'day':
      return { from: today, to: tomorrow };
    case '7d':
      return { from: today - 6 * DAY_MS, to: tomorrow };
    case '30d':
      return { from: today - 29 * DAY_MS, to: tomorrow };
    case 'month':
      return { from: monthStart(0), to: monthStart(-1) };
    case '6mo':
      return { from: monthStart(5), to: monthStart(-1) };
    case '12mo':
      return { from: monthStart(11), to: monthStart(-1) };
  }
}

/** The range of a parsed query: its period (relative to `date`), or from/to (to defaulting to now), or `defaultPeriod`. */
export function rangeOf(
  query: { period?: Period | undefined; date?: PeriodDate | undefined; from?: number | undefined; to?: number | undefined },
  now: number,
  defaultPeriod: Exclude<Period, 'custom'>,
): TimeRange & { period: Period | null } {
  if (query.period !== undefined) return { ...periodRange(query.period, now, query.date), period: query.period };
  if (query.from === undefined && query.to === undefined) return { ...periodRange(defaultPeriod, now, query.date), period: defaultPeriod };
  // The schema requires `from` with `to`.
  return { ...ordered(query.from ?? now, query.to ?? now), period: null };
}

function ordered(from: number, to: number): TimeRange {
  if (from >= to) throw new ApiError(400, 'PV_QUERY_INVALID', "'from' must be before 'to'", [{ field: 'from', message: "'from' must be before 'to'" }]);
  return { from, to };
}

/** `from`/`to` of the page-views route: `to` defaults to now, `from` to DEFAULT_SPAN_MS before `to`. */
export function spanOf(query: { from?: number | undefined; to?: number | undefined }, now: number, interval: Interval): TimeRange {
  const to = query.to ?? now;
  return ordered(query.from ?? to - DEFAULT_SPAN_MS[interval], to);
}
