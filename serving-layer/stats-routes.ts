/**
 * The read API in the shapes of Plausible's Stats API v1: aggregate, timeseries, breakdown and
 * realtime visitors (and the product's compare and realtime routes). Every answer carries
 * `exactThrough` (the batch boundary) and, per value, whether it is exact and its bound when it
 * is not: beside the value in the aggregate, beside the plain numbers of each row in the
 * timeseries and the breakdown (plausible-results.ts). Absent fields are left out, never null.
 */
import { Router, type Request, type Response } from 'express';
import { INTERVAL_MS, isBucketEdge } from '../shared/core/time-buckets.ts';
import type { BatchBoundary } from '../shared/adapters/view-store/index.ts';
import {
  PROPERTIES,
  bucketRange,
  needsEvents,
  queryEventBreakdown,
  queryEventSeries,
  queryEventTotals,
  queryPropertyBreakdown,
  queryRealtimeVisitors,
  scopeOf,
  type BoundedCount,
  type BoundedMetrics,
  type PageViewsAnswer,
  type PropertyFilter,
  type PropertyName,
  type QueryStore,
} from '../shared/core/query/index.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';
import { asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import { METRIC_NAMES } from '../shared/core/query/index.ts';
import { rangeOf, type Period, type TimeseriesInterval } from './query-params.ts';
import { monthBuckets, queryMonthSeries } from './month-series.ts';
import { RESULT_KEYS, boundedRow, plausibleDate, plausibleRow } from './plausible-results.ts';
import type { VersionedAnswers } from './versioned-answers.ts';
import { aggregateQuery, breakdownQuery, compareQuery, realtimeQuery, timeseriesQuery } from './query-schemas.ts';
import { isoTime } from './iso-time.ts';
import { compareAnswer } from './compare-answer.ts';
import { SESSION_METRIC_NAMES, addTotals, emptyTotals, type SessionTotals } from '../shared/core/sessions.ts';
import { SESSION_PROPERTIES, querySessionPages, querySessions, type SessionProperty } from '../shared/core/query/sessions-query.ts';
import { SESSIONS_NOTE, metricChange, refuseSessionFilters, sessionValue, splitMetrics, withSessions } from './session-answers.ts';
import type { AnyMetric } from './query-schemas.ts';

const iso = isoTime;
const exactThrough = (b: BatchBoundary | null): string | null => (b === null ? null : iso(b.cutoffTime));

/** Plausible's default intervals: hours for a day, months for 6mo and 12mo, else days (its `date`). */
const DEFAULT_INTERVAL: Record<Period, TimeseriesInterval> = { day: 'hour', '7d': 'day', '30d': 'day', month: 'day', '6mo': 'month', '12mo': 'month', custom: 'day' };

/** A range with no data left, as the answer writes it. */
const partialOf = (p: NonNullable<PageViewsAnswer['partial']>) => ({ ...p, missingFrom: iso(p.missingFrom), missingTo: iso(p.missingTo) });

/** Plausible's `change`: the percent change from `before` to `now`, rounded (halves away from zero); 100 from nothing to something, 0 from nothing to nothing. */
export function percentChange(before: number, now: number): number {
  if (before === 0) return now > 0 ? 100 : 0;
  const percent = ((now - before) / before) * 100;
  // Halves away from zero, as Elixir's round/1 (Math.round takes -99.5 to -99).
  return Math.sign(percent) * Math.round(Math.abs(percent));
}

const PAGE_PROPERTY = PROPERTIES[0];

/** A query's filters: `filters`, and the product's `page` as event:page==page. */
function filtersOf(filters: readonly PropertyFilter[] | undefined, pageId: string | undefined): PropertyFilter[] {
  const out = [...(filters ?? [])];
  if (pageId !== undefined) out.push({ property: PAGE_PROPERTY, negated: false, values: [{ pieces: [pageId] }] });
  return out;
}

/** The filters as an answer-cache key (the same filters written differently share it). */
const filtersKey = (filters: readonly PropertyFilter[]): string => JSON.stringify(filters.map((f) => [f.property.name, f.negated, f.values.map((v) => v.pieces)]));

/** An aggregate value of a count with bounds (filters across properties). */
const boundedValue = (c: BoundedCount) => ({ value: c.value, exact: c.exact, ...(c.exact ? {} : { lower: c.lower, upper: c.upper }) });

/** The metrics asked for of a point or row with bounded counts. */
function boundedOf(p: Partial<BoundedMetrics>, wanted: { pageviews: boolean; visitors: boolean }): { pageviews?: BoundedCount; visitors?: BoundedCount } {
  return { ...(wanted.pageviews && p.pageviews !== undefined ? { pageviews: p.pageviews } : {}), ...(wanted.visitors && p.visitors !== undefined ? { visitors: p.visitors } : {}) };
}

/** What a breakdown answer says before its rows. */
function breakdownEnvelope(q: { site: string; property: string; range: { from: number; to: number; period: Period | null }; boundary: BatchBoundary | null; limit: number; offset: number }) {
  const { range } = q;
  return {
    site: q.site,
    property: q.property,
    from: iso(range.from),
    to: iso(range.to),
    ...(range.period === null ? {} : { period: range.period }),
    exactThrough: exactThrough(q.boundary),
    limit: q.limit,
    offset: q.offset,
  };
}

/** Session sums of no sessions, exact: a row without session metrics is left as it is. */
const EXACT_NONE = { ...emptyTotals(), exact: true };

/** Session sums per calendar month of [from, to) (whole days): the sums of its days. */
async function sessionMonths(store: QueryStore, site: string, from: number, to: number): Promise<(SessionTotals & { exact: boolean })[]> {
  const days = await querySessions(store, { site, from, to, interval: 'day' });
  return monthBuckets(from, to).map((m) => {
    const sums = { ...emptyTotals(), exact: true };
    for (const d of days.series) {
      if (d.bucket < m.from || d.bucket >= m.to) continue;
      addTotals(sums, d);
      sums.exact &&= d.exact;
    }
    return sums;
  });
}

export function statsRouter(store: QueryStore, answers: VersionedAnswers, now: () => number): Router {
  const router = Router();

  router.get('/api/v1/stats/aggregate', async (req, res) => {
    const { site, page: pageId, metrics = METRIC_NAMES, compare, filters: given, with_imported: _imported, ...query } = parseInput(asQuery(aggregateQuery), req.query);
    const range = rangeOf(query, now(), '30d');
    const filters = filtersOf(given, pageId);
    const asked = splitMetrics(metrics);
    refuseSessionFilters(asked.sessions, filters, pageId !== undefined);
    const key = `aggregate|${site}|${filtersKey(filters)}|${metrics.join(',')}|${range.from}|${range.to}|${range.period ?? ''}|${compare ?? ''}`;
    await answers.send(req, res, key, async () => {
    const boundary = await store.latestBoundary();
    const over = async (from: number, to: number): Promise<Record<string, { value: number } & Record<string, unknown>>> => {
      const results: Record<string, { value: number } & Record<string, unknown>> = {};
      if (needsEvents(filters)) {
        const totals = await queryEventTotals(store, { site, filters, from, to }, boundary);
        for (const metric of asked.views) results[metric] = boundedValue(totals[metric]);
        return results;
      }
      const scope = scopeOf(store, site, filters, boundary);
      // Totals are the same at any interval whose buckets the range is made of: days read fewer rows.
      const interval = isBucketEdge(from, 'day') && isBucketEdge(to, 'day') ? 'day' : 'hour';
      const sessions = asked.sessions.length === 0 ? null : await querySessions(store, { site, from, to, interval });
      if (metrics.includes('pageviews')) {
        const answer = await scope.pageViews({ from, to, interval });
        results['pageviews'] = {
          value: answer.total.views,
          exact: answer.total.exact,
          overcountBound: answer.total.overcountBound,
          ...(answer.partial === null ? {} : { partial: partialOf(answer.partial) }),
        };
      }
      if (metrics.includes('visitors')) {
        const v = await scope.visitors({ from, to });
        results['visitors'] = {
          value: v.value,
          exact: v.exact,
          ...(v.exact ? {} : { relativeStandardError: v.relativeStandardError }),
          countedFrom: iso(v.countedFrom),
          countedTo: iso(v.countedTo),
        };
      }
      for (const metric of asked.sessions) if (sessions !== null) results[metric] = sessionValue(metric, sessions.total, sessions.total.exact);
      return results;
    };
    const results = await over(range.from, range.to);
    let comparedWith: { from: string; to: string } | null = null;
    if (compare === 'previous_period') {
      // The period of the same length just before (Plausible's previous_period).
      const previousFrom = range.from - (range.to - range.from);
      const previous = await over(previousFrom, range.from);
      comparedWith = { from: iso(previousFrom), to: iso(range.from) };
      for (const [metric, current] of Object.entries(results)) {
        const before = previous[metric];
        if (before === undefined) continue;
        results[metric] = { ...current, change: metricChange(metric, before.value, current.value, percentChange), previous: before };
      }
    }
    return {
      site,
      ...(pageId === undefined ? {} : { page: pageId }),
      from: iso(range.from),
      to: iso(range.to),
      ...(range.period === null ? {} : { period: range.period }),
      exactThrough: exactThrough(boundary),
      ...(comparedWith === null ? {} : { comparedWith }),
      ...(asked.sessions.length === 0 ? {} : { sessions: SESSIONS_NOTE }),
      results,
    };
    });
  });

  router.get('/api/v1/stats/timeseries', async (req, res) => {
    const { site, page: pageId, metrics = METRIC_NAMES, interval: asked, filters: given, with_imported: _imported, ...query } = parseInput(asQuery(timeseriesQuery), req.query);
    const range = rangeOf(query, now(), '30d');
    // Plausible's `date` is the product's `day`.
    const interval: TimeseriesInterval = asked === 'date' ? 'day' : (asked ?? DEFAULT_INTERVAL[range.period ?? '30d']);
    const filters = filtersOf(given, pageId);
    const split = splitMetrics(metrics);
    refuseSessionFilters(split.sessions, filters, pageId !== undefined);
    const fromEvents = needsEvents(filters);
    if (fromEvents && interval === 'minute') {
      throw new ApiError(400, 'PV_QUERY_INVALID', "parameter 'interval': filters on several properties are answered from the events per hour, day or month, not per minute", [{ field: 'interval', message: 'use hour, day or month' }]);
    }
    const wanted = { pageviews: metrics.includes('pageviews'), visitors: metrics.includes('visitors') };
    const head = { site, ...(pageId === undefined ? {} : { page: pageId }), interval, ...(split.sessions.length === 0 ? {} : { sessions: SESSIONS_NOTE }) };
    const keyOf = (from: number, to: number) => `timeseries|${site}|${filtersKey(filters)}|${metrics.join(',')}|${interval}|${from}|${to}|${range.period ?? ''}`;
    if (interval === 'month') {
      await answers.send(req, res, keyOf(range.from, range.to), async () => {
        const boundary = await store.latestBoundary();
        const period = { ...(range.period === null ? {} : { period: range.period }), exactThrough: exactThrough(boundary) };
        if (fromEvents) {
          // Each month's totals from the events (exact before the boundary, bounded after it).
          const days = bucketRange(range.from, range.to, 'day');
          const months = monthBuckets(days.from, days.to);
          const totals = await Promise.all(months.map((m) => queryEventTotals(store, { site, filters, from: m.from, to: m.to }, boundary)));
          return { ...head, from: iso(days.from), to: iso(days.to), ...period, results: totals.map((t, i) => boundedRow({ date: plausibleDate(months[i]!.start, 'month') }, boundedOf(t, wanted))) };
        }
        const months = await queryMonthSeries(scopeOf(store, site, filters, boundary), { from: range.from, to: range.to }, wanted);
        const sessions = split.sessions.length === 0 ? null : await sessionMonths(store, site, months.from, months.to);
        return {
          ...head,
          from: iso(months.from),
          to: iso(months.to),
          ...period,
          ...(months.partial === null ? {} : { partial: partialOf(months.partial) }),
          results: months.points.map((p, i) => withSessions(plausibleRow({ date: plausibleDate(p.bucket, 'month') }, p), split.sessions, sessions?.[i] ?? EXACT_NONE)),
        };
      });
      return;
    }
    const { from, to } = bucketRange(range.from, range.to, interval);
    await answers.send(req, res, keyOf(from, to), async () => {
    const boundary = await store.latestBoundary();
    const envelope = { ...head, from: iso(from), to: iso(to), ...(range.period === null ? {} : { period: range.period }), exactThrough: exactThrough(boundary) };
    if (fromEvents) {
      const points = await queryEventSeries(store, { site, filters, from, to, interval: interval as 'hour' | 'day' }, boundary);
      return {
        ...envelope,
        results: points.map((p) =>
          boundedRow({ date: plausibleDate(p.bucket, interval) }, { ...(wanted.pageviews ? { pageviews: p.pageviews } : {}), ...(wanted.visitors ? { visitors: p.visitors } : {}) }),
        ),
      };
    }
    const scope = scopeOf(store, site, filters, boundary);
    const views = wanted.pageviews ? await scope.pageViews({ from, to, interval }) : null;
    const visitors = wanted.visitors ? await scope.visitorsSeries({ from, to }, interval) : null;
    const sessions = split.sessions.length === 0 ? null : await querySessions(store, { site, from, to, interval });
    const results = [];
    for (let i = 0, bucket = from; bucket < to; i++, bucket += INTERVAL_MS[interval]) {
      const v = views?.series[i];
      const u = visitors?.series[i];
      const row = plausibleRow(
        { date: plausibleDate(bucket, interval) },
        {
          pageviews: v === undefined ? undefined : { value: v.views, exact: v.exact, overcountBound: v.overcountBound },
          visitors: u === undefined ? undefined : { value: u.visitors, exact: u.exact, relativeStandardError: u.relativeStandardError },
        },
      );
      results.push(withSessions(row, split.sessions, sessions?.series[i] ?? EXACT_NONE));
    }
    return {
      ...envelope,
      ...(visitors?.note ? { note: visitors.note } : {}),
      ...(views === null || views.partial === null ? {} : { partial: partialOf(views.partial) }),
      results,
    };
    });
  });

  router.get('/api/v1/stats/breakdown', async (req, res) => {
    const { site, property: byProperty, limit, offset, metrics: givenMetrics, filters: given, with_imported: _imported, ...query } = parseInput(asQuery(breakdownQuery), req.query);
    const range = rangeOf(query, now(), '30d');
    const filters = given ?? [];
    if (byProperty !== undefined && 'session' in byProperty) {
      await sessionBreakdown(req, res, { site, property: byProperty.name, metrics: givenMetrics ?? SESSION_METRIC_NAMES, filters, range, limit, offset });
      return;
    }
    const metrics = givenMetrics ?? METRIC_NAMES;
    const sessionMetrics = splitMetrics(metrics).sessions;
    if (sessionMetrics.length > 0) {
      throw new ApiError(
        400,
        'PV_QUERY_INVALID',
        `parameter 'metrics': the session metrics (${sessionMetrics.join(', ')}) are broken down by ${Object.keys(SESSION_PROPERTIES).join(' or ')} only (not yet by ${byProperty?.name ?? 'event:page'})`,
        [{ field: 'metrics', message: 'not with this property' }],
      );
    }
    const property = byProperty ?? PAGE_PROPERTY;
    const key = RESULT_KEYS[property.name as PropertyName];
    const wanted = { pageviews: metrics.includes('pageviews'), visitors: metrics.includes('visitors') };
    await answers.send(req, res, `breakdown|${site}|${property.name}|${filtersKey(filters)}|${metrics.join(',')}|${limit}|${offset}|${range.from}|${range.to}|${range.period ?? ''}`, async () => {
    const boundary = await store.latestBoundary();
    const envelope = breakdownEnvelope({ site, property: property.name, range, boundary, limit, offset });
    if (needsEvents(filters, property)) {
      const { rows, total } = await queryEventBreakdown(store, { site, property, filters, ...range, limit, offset }, boundary);
      return { ...envelope, total, results: rows.map((r) => boundedRow({ [key]: r.value }, boundedOf(r, wanted))) };
    }
    const { rows, total } = await queryPropertyBreakdown(store, { site, property, filters, ...range, limit, offset, withVisitors: wanted.visitors }, boundary);
    return {
      ...envelope,
      total,
      results: rows.map((r) =>
        plausibleRow(
          { [key]: r.pageId },
          {
            ...(wanted.pageviews ? { pageviews: { value: r.pageviews, exact: r.exact, overcountBound: r.overcountBound } } : {}),
            ...(r.visitors === undefined ? {} : { visitors: { value: r.visitors.value, exact: r.visitors.exact, relativeStandardError: r.visitors.relativeStandardError } }),
          },
        ),
      ),
    };
    });
  });

  /** A breakdown by entry or exit page: session metrics only, from the session views. */
  async function sessionBreakdown(
    req: Request,
    res: Response,
    q: { site: string; property: SessionProperty; metrics: readonly AnyMetric[]; filters: readonly PropertyFilter[]; range: { from: number; to: number; period: Period | null }; limit: number; offset: number },
  ): Promise<void> {
    const { site, property, filters, range, limit, offset } = q;
    const asked = splitMetrics(q.metrics);
    if (asked.views.length > 0) {
      throw new ApiError(
        400,
        'PV_QUERY_INVALID',
        `parameter 'metrics': ${asked.views.join(', ')} are not broken down by ${property} yet; ask for ${SESSION_METRIC_NAMES.join(', ')}`,
        [{ field: 'metrics', message: `not with ${property}` }],
      );
    }
    refuseSessionFilters(asked.sessions, filters, false);
    const key = RESULT_KEYS[property];
    await answers.send(req, res, `breakdown|${site}|${property}|${asked.sessions.join(',')}|${limit}|${offset}|${range.from}|${range.to}|${range.period ?? ''}`, async () => {
      const { boundary, rows } = await querySessionPages(store, { site, property, from: range.from, to: range.to });
      return {
        ...breakdownEnvelope({ site, property, range, boundary, limit, offset }),
        sessions: SESSIONS_NOTE,
        total: rows.length,
        results: rows.slice(offset, offset + limit).map((r) => withSessions({ [key]: r.pageId, exact: true }, asked.sessions, r)),
      };
    });
  }

  router.get('/api/v1/compare', async (req, res) => {
    const query = parseInput(asQuery(compareQuery), req.query);
    const t = now();
    const range = rangeOf(query, t, '7d');
    await answers.send(req, res, `compare|${query.site}|${query.page ?? ''}|${query.interval}|${range.from}|${range.to}`, () => compareAnswer(store, query, t));
  });

  router.get('/api/v1/realtime/visitors', async (req, res) => {
    const { site } = parseInput(asQuery(realtimeQuery), req.query);
    const t = now();
    const v = await queryRealtimeVisitors(store, site, t);
    res.json({ site, from: iso(v.from), to: iso(t), visitors: { value: v.value, exact: false, relativeStandardError: v.relativeStandardError } });
  });

  // Plausible's Stats API v1: the same number, bare (its clients read the body as a number).
  router.get('/api/v1/stats/realtime/visitors', async (req, res) => {
    const { site } = parseInput(asQuery(realtimeQuery), req.query);
    const v = await queryRealtimeVisitors(store, site, now());
    res.json(v.value);
  });

  return router;
}
