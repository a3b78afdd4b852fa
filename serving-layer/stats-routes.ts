/**
 * The read API in the shapes of Plausible's Stats API v1: aggregate, timeseries, breakdown and
 * realtime visitors (and the product's compare and realtime routes). Every answer carries
 * `exactThrough` (the batch boundary) and, per value, whether it is exact and its bound when it
 * is not: beside the value in the aggregate, beside the plain numbers of each row in the
 * timeseries and the breakdown (plausible-results.ts). Absent fields are left out, never null.
 */
import { Router } from 'express';
import { INTERVAL_MS, isBucketEdge } from '../shared/core/time-buckets.ts';
import type { BatchBoundary } from '../shared/adapters/view-store/index.ts';
import {
  bucketRange,
  compareSpeedBatch,
  queryBreakdown,
  queryPageViews,
  queryRealtimeVisitors,
  queryVisitors,
  queryVisitorsSeries,
  type PageViewsAnswer,
  type QueryStore,
} from '../shared/core/query/index.ts';
import { asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import { METRIC_NAMES } from '../shared/core/query/index.ts';
import { rangeOf, type Period, type TimeseriesInterval } from './query-params.ts';
import { queryMonthSeries } from './month-series.ts';
import { RESULT_KEYS, plausibleDate, plausibleRow } from './plausible-results.ts';
import type { VersionedAnswers } from './versioned-answers.ts';
import { aggregateQuery, breakdownQuery, compareQuery, realtimeQuery, timeseriesQuery } from './query-schemas.ts';
import { isoTime } from './iso-time.ts';

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

export function statsRouter(store: QueryStore, answers: VersionedAnswers, now: () => number): Router {
  const router = Router();

  router.get('/api/v1/stats/aggregate', async (req, res) => {
    const { site, page: pageId, metrics = METRIC_NAMES, compare, with_imported: _imported, ...query } = parseInput(asQuery(aggregateQuery), req.query);
    const range = rangeOf(query, now(), '30d');
    const filter = { site, ...(pageId === undefined ? {} : { pageId }) };
    const key = `aggregate|${site}|${pageId ?? ''}|${metrics.join(',')}|${range.from}|${range.to}|${range.period ?? ''}|${compare ?? ''}`;
    await answers.send(req, res, key, async () => {
    const boundary = await store.latestBoundary();
    const over = async (from: number, to: number): Promise<Record<string, { value: number } & Record<string, unknown>>> => {
      const results: Record<string, { value: number } & Record<string, unknown>> = {};
      if (metrics.includes('pageviews')) {
        // The total is the same at any interval whose buckets the range is made of: days read fewer rows.
        const interval = isBucketEdge(from, 'day') && isBucketEdge(to, 'day') ? 'day' : 'hour';
        const answer = await queryPageViews(store, { ...filter, from, to, interval });
        results['pageviews'] = {
          value: answer.total.views,
          exact: answer.total.exact,
          overcountBound: answer.total.overcountBound,
          ...(answer.partial === null ? {} : { partial: partialOf(answer.partial) }),
        };
      }
      if (metrics.includes('visitors')) {
        const v = await queryVisitors(store, { ...filter, from, to }, boundary);
        results['visitors'] = {
          value: v.value,
          exact: v.exact,
          ...(v.exact ? {} : { relativeStandardError: v.relativeStandardError }),
          countedFrom: iso(v.countedFrom),
          countedTo: iso(v.countedTo),
        };
      }
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
        results[metric] = { ...current, change: percentChange(before.value, current.value), previous: before };
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
      results,
    };
    });
  });

  router.get('/api/v1/stats/timeseries', async (req, res) => {
    const { site, page: pageId, metrics = METRIC_NAMES, interval: asked, with_imported: _imported, ...query } = parseInput(asQuery(timeseriesQuery), req.query);
    const range = rangeOf(query, now(), '30d');
    // Plausible's `date` is the product's `day`.
    const interval: TimeseriesInterval = asked === 'date' ? 'day' : (asked ?? DEFAULT_INTERVAL[range.period ?? '30d']);
    const filter = { site, ...(pageId === undefined ? {} : { pageId }) };
    const wanted = { pageviews: metrics.includes('pageviews'), visitors: metrics.includes('visitors') };
    const head = { site, ...(pageId === undefined ? {} : { page: pageId }), interval };
    if (interval === 'month') {
      const key = `timeseries|${site}|${pageId ?? ''}|${metrics.join(',')}|month|${range.from}|${range.to}|${range.period ?? ''}`;
      await answers.send(req, res, key, async () => {
        const boundary = await store.latestBoundary();
        const months = await queryMonthSeries(store, { ...filter, from: range.from, to: range.to }, wanted, boundary);
        return {
          ...head,
          from: iso(months.from),
          to: iso(months.to),
          ...(range.period === null ? {} : { period: range.period }),
          exactThrough: exactThrough(boundary),
          ...(months.partial === null ? {} : { partial: partialOf(months.partial) }),
          results: months.points.map((p) => plausibleRow({ date: plausibleDate(p.bucket, 'month') }, p)),
        };
      });
      return;
    }
    const { from, to } = bucketRange(range.from, range.to, interval);
    await answers.send(req, res, `timeseries|${site}|${pageId ?? ''}|${metrics.join(',')}|${interval}|${from}|${to}|${range.period ?? ''}`, async () => {
    const boundary = await store.latestBoundary();
    const views = wanted.pageviews ? await queryPageViews(store, { ...filter, from, to, interval }) : null;
    const visitors = wanted.visitors ? await queryVisitorsSeries(store, { ...filter, from, to }, interval, boundary) : null;
    const results = [];
    for (let i = 0, bucket = from; bucket < to; i++, bucket += INTERVAL_MS[interval]) {
      const v = views?.series[i];
      const u = visitors?.series[i];
      results.push(
        plausibleRow(
          { date: plausibleDate(bucket, interval) },
          {
            pageviews: v === undefined ? undefined : { value: v.views, exact: v.exact, overcountBound: v.overcountBound },
            visitors: u === undefined ? undefined : { value: u.visitors, exact: u.exact, relativeStandardError: u.relativeStandardError },
          },
        ),
      );
    }
    return {
      ...head,
      from: iso(from),
      to: iso(to),
      ...(range.period === null ? {} : { period: range.period }),
      exactThrough: exactThrough(boundary),
      ...(visitors?.note ? { note: visitors.note } : {}),
      ...(views === null || views.partial === null ? {} : { partial: partialOf(views.partial) }),
      results,
    };
    });
  });

  router.get('/api/v1/stats/breakdown', async (req, res) => {
    const { site, property, limit, offset, metrics: _pageviewsOnly, with_imported: _imported, ...query } = parseInput(asQuery(breakdownQuery), req.query);
    const range = rangeOf(query, now(), '30d');
    const key = RESULT_KEYS[property];
    await answers.send(req, res, `breakdown|${site}|${limit}|${offset}|${range.from}|${range.to}|${range.period ?? ''}`, async () => {
    const boundary = await store.latestBoundary();
    const { pages, totalPages } = await queryBreakdown(store, { site, ...range, limit, offset }, boundary);
    return {
      site,
      property: 'event:page',
      from: iso(range.from),
      to: iso(range.to),
      ...(range.period === null ? {} : { period: range.period }),
      exactThrough: exactThrough(boundary),
      limit,
      offset,
      totalPages,
      results: pages.map((p) => plausibleRow({ [key]: p.pageId }, { pageviews: { value: p.pageviews, exact: p.exact, overcountBound: p.overcountBound } })),
    };
    });
  });

  router.get('/api/v1/compare', async (req, res) => {
    const { site, page: pageId, interval, ...query } = parseInput(asQuery(compareQuery), req.query);
    const range = rangeOf(query, now(), '7d');
    await answers.send(req, res, `compare|${site}|${pageId ?? ''}|${interval}|${range.from}|${range.to}`, async () => {
    const boundary = await store.latestBoundary();
    const c = await compareSpeedBatch(store, { site, ...(pageId === undefined ? {} : { pageId }), from: range.from, to: range.to, interval }, boundary);
    return {
      site,
      page: pageId ?? null,
      interval,
      exactThrough: exactThrough(boundary),
      comparedFrom: iso(c.from),
      comparedTo: iso(c.to),
      rows: c.rows.map((r) => ({ ...r, bucket: iso(r.bucket) })),
      totals: c.totals,
      visitors: c.visitors,
    };
    });
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
