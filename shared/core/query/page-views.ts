/**
 * Page views over a range, merged at the batch boundary: buckets before it from the
 * published batch views (exact), buckets at or after it from the speed views (approximate).
 * Both sides are read at their finest grain (batch: hour, speed: minute) and rolled up to
 * the requested interval, so a day bucket that straddles an hour-aligned boundary is batch
 * hours plus speed minutes: no gap, no double count.
 */
import { PlatformError } from '../errors.ts';
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from '../time-buckets.ts';
import type { BatchBoundary, BucketViews, SpeedBucketViews, ViewQuery, ViewReader } from '../../adapters/view-store/index.ts';
import { isExact, splitAtBoundary } from './boundary-split.ts';
import { BucketRollup } from './rollup.ts';

/** Most buckets one answer may hold. */
export const MAX_BUCKETS = 10_000;

export interface PageViewsRequest {
  site: string;
  /** Absent: all pages of the site. */
  pageId?: string;
  from: number;
  to: number;
  interval: Interval;
}

export interface PageViewsPoint {
  /** Bucket start, epoch ms. */
  bucket: number;
  views: number;
  /** True when the whole bucket lies before the boundary (batch, exact). */
  exact: boolean;
  /** For speed buckets: the views may exceed the true count by at most this (Count-Min, 99%). */
  overcountBound: number;
}

export interface PageViewsAnswer {
  /** Range actually covered: from floored and to ceiled to the interval. */
  from: number;
  to: number;
  interval: Interval;
  /** The batch boundary: buckets before it are exact. Null when no batch run has succeeded. */
  boundary: BatchBoundary | null;
  series: PageViewsPoint[];
  total: { views: number; exact: boolean; overcountBound: number };
  /**
   * Set when part of the range has no data any more: speed buckets before `retainedFrom`
   * were dropped and no batch run covers them. The affected views are missing, not zero.
   */
  partial: { reason: string; missingFrom: number; missingTo: number } | null;
}

/** The range of a request in whole buckets, refused when it holds more than MAX_BUCKETS. */
export function bucketRange(from: number, to: number, interval: Interval): { from: number; to: number } {
  const range = { from: bucketStart(from, interval), to: bucketCeil(to, interval) };
  const count = (range.to - range.from) / INTERVAL_MS[interval];
  if (count > MAX_BUCKETS) {
    throw new PlatformError(
      'PV_QUERY_INVALID',
      `the range holds ${count} ${interval} buckets; at most ${MAX_BUCKETS} are allowed: narrow the range or use a coarser interval`,
    );
  }
  return range;
}

/**
 * The batch side [from, cut) at the coarsest grain that rolls up to the interval: for day
 * buckets, whole days from the day views and the hours of a day cut by the boundary. `read`
 * reads one grain (page views, session sums).
 */
export async function readBatchSide<T>(read: (query: ViewQuery, grain: 'hour' | 'day') => Promise<T[]>, query: ViewQuery, interval: Interval): Promise<T[]> {
  if (interval !== 'day') return read(query, 'hour');
  const lastDay = bucketStart(query.to, 'day');
  const [days, hours] = await Promise.all([
    lastDay > query.from ? read({ ...query, to: lastDay }, 'day') : Promise.resolve<T[]>([]),
    lastDay < query.to ? read({ ...query, from: Math.max(query.from, lastDay) }, 'hour') : Promise.resolve<T[]>([]),
  ]);
  return [...days, ...hours];
}

export async function queryPageViews(store: ViewReader, request: PageViewsRequest): Promise<PageViewsAnswer> {
  const { interval } = request;
  const { from, to } = bucketRange(request.from, request.to, interval);
  const split = splitAtBoundary({ from, to }, await store.latestBoundary());
  const { boundary, batch, speed } = split;
  if (interval === 'minute' && batch !== null) {
    throw new PlatformError(
      'PV_QUERY_INVALID',
      `minute buckets are available only from the batch boundary on (${new Date(boundary?.cutoffTime ?? 0).toISOString()}); ` +
        'use interval=hour or day for earlier times',
    );
  }
  const filter = { site: request.site, ...(request.pageId === undefined ? {} : { pageId: request.pageId }) };
  const [batchRows, speedRows, retainedFrom] = await Promise.all([
    batch !== null && boundary !== null
      ? readBatchSide((q, grain) => store.batchViews(boundary.batchId, q, grain), { ...filter, ...batch }, interval)
      : Promise.resolve<BucketViews[]>([]),
    // The speed side starts at the boundary or at `from`, both hour edges unless minutes are asked.
    speed !== null ? store.speedViews({ ...filter, ...speed }, interval === 'minute' ? 'minute' : 'hour') : Promise.resolve<SpeedBucketViews[]>([]),
    speed !== null ? store.speedRetainedFrom() : Promise.resolve(null),
  ]);

  const rollup = new BucketRollup(interval);
  for (const row of batchRows) rollup.add(row.bucket, row.views);
  for (const row of speedRows) rollup.add(row.bucket, row.views, row.overcountBound);
  const series: PageViewsPoint[] = [];
  let total = 0;
  let totalBound = 0;
  for (const b of rollup.range(from, to)) {
    total += b.views;
    totalBound += b.overcountBound;
    series.push({ bucket: b.bucket, views: b.views, exact: isExact(b.bucket + INTERVAL_MS[interval], boundary), overcountBound: b.overcountBound });
  }
  // Invariant 3: never a silently wrong total. Speed days the batch layer has not covered are
  // never dropped, but a boundary moved back (a rerun with an earlier cutoff) can expose a gap.
  const partial =
    retainedFrom !== null && split.cut < retainedFrom
      ? { reason: 'speed buckets in this range were dropped by retention and no batch run covers them', missingFrom: split.cut, missingTo: Math.min(retainedFrom, to) }
      : null;
  return { from, to, interval, boundary, series, total: { views: total, exact: isExact(to, boundary), overcountBound: totalBound }, partial };
}
