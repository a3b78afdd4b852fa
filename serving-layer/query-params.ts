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

export const PERIODS = ['day', '7d', '30d', 'month', '12mo'] as const;
export type Period = (typeof PERIODS)[number];

/** A period preset as a UTC range ending with today: `day` is today, `month` this calendar month. */
export function periodRange(period: Period, now: number): TimeRange {
  const today = Math.floor(now / 86_400_000) * 86_400_000;
  const tomorrow = today + 86_400_000;
  const date = new Date(now);
  const monthStart = (monthsBack: number): number => Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - monthsBack, 1);
  switch (period) {
    case 'day':
      return { from: today, to: tomorrow };
    case '7d':
      return { from: today - 6 * 86_400_000, to: tomorrow };
    case '30d':
      return { from: today - 29 * 86_400_000, to: tomorrow };
    case 'month':
      return { from: monthStart(0), to: monthStart(-1) };
    case '12mo':
      return { from: monthStart(11), to: monthStart(-1) };
  }
}

/** The range of a parsed query: its period, or from/to (to defaulting to now), or `defaultPeriod`. */
export function rangeOf(query: { period?: Period | undefined; from?: number | undefined; to?: number | undefined }, now: number, defaultPeriod: Period): TimeRange & { period: Period | null } {
  if (query.period !== undefined) return { ...periodRange(query.period, now), period: query.period };
  if (query.from === undefined && query.to === undefined) return { ...periodRange(defaultPeriod, now), period: defaultPeriod };
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
