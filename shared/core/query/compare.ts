/**
 * Speed vs batch, side by side, for buckets both layers cover: before the batch boundary
 * (the batch layer's exact views) and not dropped by speed retention. Used by the compare
 * report (API and CLI) and after every batch run to record the divergence.
 *
 * Declared bounds (what the speed layer promises):
 * - page views: the speed count is at most `overcountBound` above the true count of what it
 *   counted (Count-Min). It does not deduplicate, and events that arrived when the boundary
 *   was already past their bucket are the batch layer's alone, so a difference beyond that
 *   bound is explained by redeliveries (speed higher) or such events (speed lower) —
 *   `withinBound` says whether the bound alone covers it;
 * - visitors: within 3 relative standard errors of the exact count;
 * - sessions (visits and bounce rate of the site): no declared bound, the divergence is shown.
 */
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from '../time-buckets.ts';
import { addTotals, emptyTotals, sessionMetricValue, type SessionTotals } from '../sessions.ts';
import type { BatchBoundary } from '../../adapters/view-store/index.ts';
import { relativeDifference, viewsWithinBound, visitorsWithinBound } from './bounds.ts';
import { BucketRollup } from './rollup.ts';
import { splitAtBoundary } from './boundary-split.ts';
import { unionOfVisitors, type QueryStore } from './visitors.ts';

export interface CompareRequest {
  site: string;
  pageId?: string;
  from: number;
  to: number;
  interval: 'hour' | 'day';
}

export interface CompareRow {
  bucket: number;
  batch: number;
  speed: number;
  /** speed − batch */
  difference: number;
  /** difference / batch (null when batch is 0) */
  relativeDifference: number | null;
  overcountBound: number;
  withinBound: boolean;
}

export interface VisitorsComparison {
  batch: number;
  speed: number;
  relativeDifference: number | null;
  relativeStandardError: number;
  withinBound: boolean;
}

/**
 * Sessions of the site over the compared range (sessions that start in it), batch against speed.
 * Sessions have no declared bound: the speed layer's are exact when each visitor's events arrive
 * in time order (see shared/core/query/sessions-query.ts); the report shows the divergence.
 */
export interface SessionsComparison {
  batch: { visits: number; bounceRate: number };
  speed: { visits: number; bounceRate: number };
  /** (speed − batch) / batch visits (null when batch is 0) */
  visitsRelativeDifference: number | null;
  /** speed − batch bounce rate, in percentage points */
  bounceRateDifference: number;
}

export interface Comparison {
  /** The range both layers cover (empty when from ≥ to). */
  from: number;
  to: number;
  /** The speed layer's retention point the range was bounded by (null: it keeps everything since it started). */
  speedRetainedFrom: number | null;
  interval: Interval;
  rows: CompareRow[];
  totals: { batch: number; speed: number; difference: number; relativeDifference: number | null; withinBound: boolean };
  visitors: VisitorsComparison | null;
  /** Null for a page (sessions are compared per site). */
  sessions: SessionsComparison | null;
}

export async function compareSpeedBatch(store: QueryStore, request: CompareRequest, boundary: BatchBoundary | null): Promise<Comparison> {
  const { interval } = request;
  const retainedFrom = await store.speedRetainedFrom();
  const from = Math.max(bucketStart(request.from, interval), retainedFrom === null ? Number.NEGATIVE_INFINITY : bucketCeil(retainedFrom, interval));
  // Only the batch side of the split, in whole buckets: the batch side of a straddling bucket is partial.
  const batchSide = splitAtBoundary({ from, to: Math.max(from, bucketCeil(request.to, interval)) }, boundary).batch;
  const to = batchSide === null ? from : Math.max(from, bucketStart(batchSide.to, interval));
  const empty: Comparison = { from, to, speedRetainedFrom: retainedFrom, interval, rows: [], totals: { batch: 0, speed: 0, difference: 0, relativeDifference: 0, withinBound: true }, visitors: null, sessions: null };
  if (boundary === null || from >= to) return empty;
  const filter = { site: request.site, ...(request.pageId === undefined ? {} : { pageId: request.pageId }), from, to };
  const [batchRows, speedRows] = await Promise.all([store.batchViews(boundary.batchId, filter, interval), store.speedViews(filter)]);
  const batch = new BucketRollup(interval);
  for (const r of batchRows) batch.add(r.bucket, r.views);
  const speed = new BucketRollup(interval);
  for (const r of speedRows) speed.add(r.bucket, r.views, r.overcountBound);
  const rows: CompareRow[] = [];
  for (let bucket = from; bucket < to; bucket += INTERVAL_MS[interval]) {
    const b = batch.get(bucket).views;
    const s = speed.get(bucket);
    const difference = s.views - b;
    rows.push({
      bucket,
      batch: b,
      speed: s.views,
      difference,
      relativeDifference: relativeDifference(difference, b),
      overcountBound: s.overcountBound,
      withinBound: viewsWithinBound(s.views, b, s.overcountBound),
    });
  }
  const totalBatch = rows.reduce((a, r) => a + r.batch, 0);
  const totalSpeed = rows.reduce((a, r) => a + r.speed, 0);
  const totalBound = rows.reduce((a, r) => a + r.overcountBound, 0);

  // Visitors over the whole compared range: exact batch count vs the union of speed hour sketches.
  const dayAligned = from % INTERVAL_MS.day === 0 && to % INTERVAL_MS.day === 0;
  let visitors: VisitorsComparison | null = null;
  if (dayAligned) {
    const [exact, sketches] = await Promise.all([
      store.batchVisitors(boundary.batchId, filter),
      store.speedVisitorSketches({ ...filter, grain: 'hour' }),
    ]);
    const union = unionOfVisitors(sketches);
    const estimate = sketches.length === 0 ? 0 : Math.round(union.estimate());
    const rse = sketches.length === 0 ? 0 : union.relativeStandardError;
    visitors = {
      batch: exact,
      speed: estimate,
      relativeDifference: relativeDifference(estimate - exact, exact),
      relativeStandardError: rse,
      withinBound: visitorsWithinBound(estimate, exact, rse),
    };
  }
  let sessions: SessionsComparison | null = null;
  if (request.pageId === undefined) {
    const [batchSessions, speedSessions] = await Promise.all([store.batchSessions(boundary.batchId, filter, 'hour'), store.speedSessions(filter)]);
    const sum = (rows: readonly SessionTotals[]): SessionTotals => rows.reduce((a, r) => addTotals(a, r), emptyTotals());
    const b = sum(batchSessions);
    const sp = sum(speedSessions);
    const rate = (t: SessionTotals): number => sessionMetricValue('bounce_rate', t);
    sessions = {
      batch: { visits: b.visits, bounceRate: rate(b) },
      speed: { visits: sp.visits, bounceRate: rate(sp) },
      visitsRelativeDifference: relativeDifference(sp.visits - b.visits, b.visits),
      bounceRateDifference: rate(sp) - rate(b),
    };
  }
  return {
    from,
    to,
    speedRetainedFrom: retainedFrom,
    interval,
    rows,
    totals: {
      batch: totalBatch,
      speed: totalSpeed,
      difference: totalSpeed - totalBatch,
      relativeDifference: relativeDifference(totalSpeed - totalBatch, totalBatch),
      withinBound: viewsWithinBound(totalSpeed, totalBatch, totalBound),
    },
    visitors,
    sessions,
  };
}
