/**
 * Session metrics in the Stats API's answers (shared/core/sessions.ts, shared/core/query/
 * sessions-query.ts): each value from summed totals, Plausible's `change` for them, and the
 * refusals for what sessions do not answer yet. One place, so aggregate, timeseries and
 * breakdown say the same.
 */
import { isMetric, type Metric, type PropertyFilter } from '../shared/core/query/index.ts';
import { isSessionMetric, sessionMetricValue, type SessionMetric, type SessionTotals } from '../shared/core/sessions.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';
import type { AnyMetric } from './query-schemas.ts';

/** What an answer with session metrics says of them (the envelope's `sessions`). */
export const SESSIONS_NOTE =
  'Sessions are counted in the bucket of their start, whole. Sessions that start before exactThrough are exact (the batch layer, with their page views after it); ' +
  'later ones are the speed layer\'s, counted as they stand: a session with a page view in the last 30 minutes may still change (a bounce may become a visit of two pages).';

/** The metrics asked for, split into view metrics and session metrics (each in the order asked). */
export function splitMetrics(metrics: readonly AnyMetric[]): { views: Metric[]; sessions: SessionMetric[] } {
  return { views: metrics.filter(isMetric), sessions: metrics.filter(isSessionMetric) };
}

/** Session metrics take no filters yet: a 400 naming the parameter (the product's `page` is a filter too). */
export function refuseSessionFilters(sessions: readonly SessionMetric[], filters: readonly PropertyFilter[], pageGiven: boolean): void {
  if (sessions.length === 0 || filters.length === 0) return;
  const field = pageGiven && filters.length === 1 ? 'page' : 'filters';
  throw new ApiError(
    400,
    'PV_QUERY_INVALID',
    `parameter '${field}': the session metrics (${sessions.join(', ')}) cannot be filtered yet; ask for them without filters, or break down by visit:entry_page or visit:exit_page`,
    [{ field, message: 'not with session metrics' }],
  );
}

/** A session metric's aggregate value: the number, whether it is exact, and (when not) that open sessions count as they stand. */
export function sessionValue(metric: SessionMetric, totals: SessionTotals, exact: boolean): { value: number; exact: boolean; openSessionsIncluded?: true } {
  return { value: sessionMetricValue(metric, totals), exact, ...(exact ? {} : { openSessionsIncluded: true as const }) };
}

/** The session metrics of a row, as plain numbers under Plausible's names. */
export function sessionFields(metrics: readonly SessionMetric[], totals: SessionTotals): Partial<Record<SessionMetric, number>> {
  const out: Partial<Record<SessionMetric, number>> = {};
  for (const m of metrics) out[m] = sessionMetricValue(m, totals);
  return out;
}

/**
 * A row with its session metrics: before `exact` and `bounds`, and `exact` only when the
 * sessions' part is exact too.
 */
export function withSessions<R extends { exact: boolean }>(row: R, metrics: readonly SessionMetric[], totals: SessionTotals & { exact: boolean }): R {
  if (metrics.length === 0) return row;
  const { exact, ...rest } = row;
  const bounds = (rest as { bounds?: unknown }).bounds;
  delete (rest as { bounds?: unknown }).bounds;
  return { ...rest, ...sessionFields(metrics, totals), exact: exact && totals.exact, ...(bounds === undefined ? {} : { bounds }) } as unknown as R;
}

/**
 * Plausible's `change` of a metric: the percent change, except for the bounce rate, whose change
 * is the difference in percentage points (as Plausible gives it).
 */
export function metricChange(metric: string, before: number, now: number, percentChange: (before: number, now: number) => number): number {
  return metric === 'bounce_rate' ? now - before : percentChange(before, now);
}
