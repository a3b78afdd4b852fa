/** Parsing and validation of query-string parameters shared by the read endpoints. */
import { PAGE_VIEW_LIMITS, DEFAULT_SITE, parseTimeText } from '../shared/core/page-view.ts';
import { INTERVALS, isInterval, type Interval } from '../shared/core/time-buckets.ts';
import { METRIC_NAMES, isMetric, type Metric } from '../shared/core/query/index.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';

export interface TimeRange {
  from: number;
  to: number;
}

const SITE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function single(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ApiError(400, 'PV_QUERY_INVALID', `parameter '${name}' must be given once`);
  return value;
}

function time(query: Record<string, unknown>, name: string): number | undefined {
  const raw = single(query, name);
  if (raw === undefined || raw === '') return undefined;
  const parsed = parseTimeText(raw);
  if (typeof parsed === 'string') throw new ApiError(400, 'PV_QUERY_INVALID', `parameter '${name}' ${parsed}`);
  if (parsed < PAGE_VIEW_LIMITS.minTimestampMs || parsed > PAGE_VIEW_LIMITS.maxTimestampMs) {
    throw new ApiError(400, 'PV_QUERY_INVALID', `parameter '${name}' must be between 2000-01-01 and 2100-01-01 UTC`);
  }
  return parsed;
}

/** How far back `from` defaults to, per interval: an hour of minutes, a day of hours, 30 days. */
export const DEFAULT_SPAN_MS: Readonly<Record<Interval, number>> = {
  minute: 3_600_000,
  hour: 86_400_000,
  day: 30 * 86_400_000,
};

/** `from` (inclusive) and `to` (exclusive); `to` defaults to now, `from` to DEFAULT_SPAN_MS before `to`. */
export function parseTimeRange(query: Record<string, unknown>, now: number, interval: Interval): TimeRange {
  const to = time(query, 'to') ?? now;
  const from = time(query, 'from') ?? to - DEFAULT_SPAN_MS[interval];
  if (from >= to) throw new ApiError(400, 'PV_QUERY_INVALID', "'from' must be before 'to'");
  return { from, to };
}

export function parseInterval(query: Record<string, unknown>, fallback: Interval): Interval {
  const raw = single(query, 'interval');
  if (raw === undefined || raw === '') return fallback;
  if (!isInterval(raw)) throw new ApiError(400, 'PV_QUERY_INVALID', `parameter 'interval' must be one of ${INTERVALS.join(', ')}`);
  return raw;
}

export function parseSite(query: Record<string, unknown>): string {
  const raw = single(query, 'site');
  if (raw === undefined || raw === '') return DEFAULT_SITE;
  if (raw.length > PAGE_VIEW_LIMITS.siteMaxLength || !SITE_RE.test(raw)) {
    throw new ApiError(400, 'PV_QUERY_INVALID', "parameter 'site' must be a site id: letters, digits, '.', '_' and '-'");
  }
  return raw;
}

/** A page id from a path segment: the page's path, URL-encoded; the leading '/' may be left out. */
export function parsePageId(raw: string): string {
  const pageId = raw.startsWith('/') ? raw : `/${raw}`;
  // eslint-disable-next-line no-control-regex
  if (pageId.length > PAGE_VIEW_LIMITS.pageIdMaxLength || /[\u0000-\u001f\u007f]/.test(pageId)) {
    throw new ApiError(400, 'PV_QUERY_INVALID', `page id must be a path of at most ${PAGE_VIEW_LIMITS.pageIdMaxLength} characters without control characters`);
  }
  return pageId;
}

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

/** `period=…` or `from`/`to` (not both); `defaultPeriod` when neither is given. */
export function parseRange(query: Record<string, unknown>, now: number, defaultPeriod: Period): TimeRange & { period: Period | null } {
  const raw = single(query, 'period');
  if (raw !== undefined && raw !== '') {
    if (query['from'] !== undefined || query['to'] !== undefined) {
      throw new ApiError(400, 'PV_QUERY_INVALID', "give either 'period' or 'from'/'to', not both");
    }
    if (!(PERIODS as readonly string[]).includes(raw)) {
      throw new ApiError(400, 'PV_QUERY_INVALID', `parameter 'period' must be one of ${PERIODS.join(', ')}`);
    }
    return { ...periodRange(raw as Period, now), period: raw as Period };
  }
  if (query['from'] === undefined && query['to'] === undefined) return { ...periodRange(defaultPeriod, now), period: defaultPeriod };
  const to = time(query, 'to') ?? now;
  const from = time(query, 'from');
  if (from === undefined) throw new ApiError(400, 'PV_QUERY_INVALID', "parameter 'from' is required with 'to'");
  if (from >= to) throw new ApiError(400, 'PV_QUERY_INVALID', "'from' must be before 'to'");
  return { from, to, period: null };
}

/** `metrics=a,b`: names from the metric definitions (shared/core/query/metrics.ts); all of them by default. */
export function parseMetrics(query: Record<string, unknown>): Metric[] {
  const raw = single(query, 'metrics');
  if (raw === undefined || raw === '') return [...METRIC_NAMES];
  const out: Metric[] = [];
  for (const m of raw.split(',').map((x) => x.trim())) {
    if (!isMetric(m)) {
      throw new ApiError(400, 'PV_QUERY_INVALID', `metric ${JSON.stringify(m.slice(0, 50))} is not one of ${METRIC_NAMES.join(', ')}`);
    }
    if (!out.includes(m)) out.push(m);
  }
  return out;
}

/** The optional `page` filter: a page path. */
export function parsePageFilter(query: Record<string, unknown>): string | undefined {
  const raw = single(query, 'page');
  return raw === undefined || raw === '' ? undefined : parsePageId(raw);
}

export function parseWholeNumber(query: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const raw = single(query, name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ApiError(400, 'PV_QUERY_INVALID', `parameter '${name}' must be a whole number from ${min} to ${max}`);
  }
  return Number(raw);
}

export function parseEnum<T extends string>(query: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const raw = single(query, name);
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ApiError(400, 'PV_QUERY_INVALID', `parameter '${name}' must be one of ${allowed.join(', ')}`);
  return raw as T;
}
