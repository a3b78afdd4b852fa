/**
 * Speed vs batch, side by side, for buckets both layers cover: before the batch boundary
 * (the batch layer's exact views) and not dropped by speed retention. Used by the compare
 * report (API and CLI) and after every batch run to record the divergence.
 *
 * Declared bounds (what the speed layer promises):
 * - page views: the speed count is at most `overcountBound` above the true count of what it
 *   counted (Count-Min). It does not deduplicate and leaves late events to the batch layer,
 *   so a difference beyond that bound is explained by redeliveries (speed higher) or late
 *   events (speed lower) — `withinBound` says whether the bound alone covers it;
 * - visitors: within 3 relative standard errors of the exact count.
 */
import { unionOfEncoded } from './sketches/index.ts';
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from './time-buckets.ts';
import type { BatchBoundary, BatchViewStore, SpeedViewStore } from '../adapters/view-store/index.ts';

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

export interface Comparison {
  /** The range both layers cover (empty when from ≥ to). */
  from: number;
  to: number;
  interval: Interval;
  rows: CompareRow[];
  totals: { batch: number; speed: number; difference: number; relativeDifference: number | null; withinBound: boolean };
  visitors: VisitorsComparison | null;
}

const relative = (difference: number, base: number): number | null => (base === 0 ? (difference === 0 ? 0 : null) : difference / base);

export async function compareSpeedBatch(
  store: SpeedViewStore & BatchViewStore,
  request: CompareRequest,
  boundary: BatchBoundary | null,
): Promise<Comparison> {
  const { interval } = request;
  const retainedFrom = await store.speedRetainedFrom();
  const from = Math.max(bucketStart(request.from, interval), retainedFrom === null ? Number.NEGATIVE_INFINITY : bucketCeil(retainedFrom, interval));
  // Only whole buckets before the boundary: the batch side of a straddling bucket is partial.
  const to = boundary === null ? from : Math.min(bucketCeil(request.to, interval), bucketStart(boundary.cutoffTime, interval));
  const empty: Comparison = { from, to: Math.max(from, to), interval, rows: [], totals: { batch: 0, speed: 0, difference: 0, relativeDifference: 0, withinBound: true }, visitors: null };
  if (boundary === null || from >= to) return empty;
  const filter = { site: request.site, ...(request.pageId === undefined ? {} : { pageId: request.pageId }), from, to };
  const [batchRows, speedRows] = await Promise.all([store.batchViews(boundary.batchId, filter, interval), store.speedViews(filter)]);
  const batch = new Map(batchRows.map((r) => [r.bucket, r.views]));
  const speed = new Map<number, { views: number; bound: number }>();
  for (const r of speedRows) {
    const b = bucketStart(r.bucket, interval);
    const seen = speed.get(b) ?? { views: 0, bound: 0 };
    seen.views += r.views;
    seen.bound += r.overcountBound;
    speed.set(b, seen);
  }
  const rows: CompareRow[] = [];
  for (let bucket = from; bucket < to; bucket += INTERVAL_MS[interval]) {
    const b = batch.get(bucket) ?? 0;
    const s = speed.get(bucket) ?? { views: 0, bound: 0 };
    const difference = s.views - b;
    rows.push({ bucket, batch: b, speed: s.views, difference, relativeDifference: relative(difference, b), overcountBound: s.bound, withinBound: difference >= 0 && difference <= s.bound });
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
    const union = unionOfEncoded(sketches);
    const estimate = union === null ? 0 : Math.round(union.estimate());
    const rse = union?.relativeStandardError ?? 0;
    visitors = {
      batch: exact,
      speed: estimate,
      relativeDifference: relative(estimate - exact, exact),
      relativeStandardError: rse,
      withinBound: Math.abs(estimate - exact) <= Math.max(3 * rse * exact, 1),
    };
  }
  return {
    from,
    to,
    interval,
    rows,
    totals: {
      batch: totalBatch,
      speed: totalSpeed,
      difference: totalSpeed - totalBatch,
      relativeDifference: relative(totalSpeed - totalBatch, totalBatch),
      withinBound: totalSpeed >= totalBatch && totalSpeed - totalBatch <= totalBound,
    },
    visitors,
  };
}
