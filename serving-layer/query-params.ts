/** Parsing and validation of query-string parameters shared by the read endpoints. */
import { PAGE_VIEW_LIMITS, DEFAULT_SITE, parseTimestamp } from '../shared/page-view.ts';
import { INTERVALS, isInterval, type Interval } from '../shared/time-buckets.ts';
import { ApiError } from './api-error.ts';

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
  const parsed = parseTimestamp(/^\d+$/.test(raw) ? Number(raw) : raw);
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
