/**
 * The merge at the batch boundary (invariant 2): buckets before the latest successful
 * boundary come from the published batch views (exact), buckets at or after it from the
 * speed views (approximate). Both sides are read at their finest grain (batch: hour,
 * speed: minute) and rolled up to the requested interval, so a day bucket that straddles
 * an hour-aligned boundary is batch hours plus speed minutes: no gap, no double count.
 */
import { PlatformError } from '../shared/core/errors.ts';
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from '../shared/core/time-buckets.ts';
import type { BatchBoundary, BatchViewStore, BucketViews, SpeedBucketViews, SpeedViewStore } from '../shared/adapters/view-store/index.ts';

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

export async function queryPageViews(store: SpeedViewStore & BatchViewStore, request: PageViewsRequest): Promise<PageViewsAnswer> {
  const { interval } = request;
  const width = INTERVAL_MS[interval];
  const from = bucketStart(request.from, interval);
  const to = bucketCeil(request.to, interval);
  const bucketCount = (to - from) / width;
  if (bucketCount > MAX_BUCKETS) {
    throw new PlatformError(
      'PV_QUERY_INVALID',
      `the range holds ${bucketCount} ${interval} buckets; at most ${MAX_BUCKETS} are allowed: narrow the range or use a coarser interval`,
    );
  }
  const boundary = await store.latestBoundary();
  // Without a successful batch run, the speed layer answers everything.
  const cut = boundary === null ? from : Math.min(Math.max(boundary.cutoffTime, from), to);
  if (interval === 'minute' && cut > from) {
    throw new PlatformError(
      'PV_QUERY_INVALID',
      `minute buckets are available only from the batch boundary on (${new Date(boundary?.cutoffTime ?? 0).toISOString()}); ` +
        "use interval=hour or day for earlier times",
    );
  }
  const filter = { site: request.site, ...(request.pageId === undefined ? {} : { pageId: request.pageId }) };
  const [batchRows, speedRows, retainedFrom] = await Promise.all([
    boundary !== null && cut > from ? store.batchViews(boundary.batchId, { ...filter, from, to: cut }) : Promise.resolve<BucketViews[]>([]),
    cut < to ? store.speedViews({ ...filter, from: cut, to }) : Promise.resolve<SpeedBucketViews[]>([]),
    cut < to ? store.speedRetainedFrom() : Promise.resolve(null),
  ]);

  const views = new Map<number, { views: number; bound: number }>();
  const add = (row: BucketViews, bound: number): void => {
    const bucket = bucketStart(row.bucket, interval);
    const seen = views.get(bucket) ?? { views: 0, bound: 0 };
    seen.views += row.views;
    seen.bound += bound;
    views.set(bucket, seen);
  };
  for (const row of batchRows) add(row, 0);
  for (const row of speedRows) add(row, row.overcountBound);
  const boundaryTime = boundary?.cutoffTime ?? Number.NEGATIVE_INFINITY;
  const series: PageViewsPoint[] = [];
  let total = 0;
  let totalBound = 0;
  for (let bucket = from; bucket < to; bucket += width) {
    const v = views.get(bucket) ?? { views: 0, bound: 0 };
    total += v.views;
    totalBound += v.bound;
    series.push({ bucket, views: v.views, exact: bucket + width <= boundaryTime, overcountBound: v.bound });
  }
  // Invariant 3: never a silently wrong total. Speed days the batch layer has not covered are
  // never dropped, but a boundary moved back (a rerun with an earlier cutoff) can expose a gap.
  const partial =
    retainedFrom !== null && cut < retainedFrom
      ? { reason: 'speed buckets in this range were dropped by retention and no batch run covers them', missingFrom: cut, missingTo: Math.min(retainedFrom, to) }
      : null;
  return { from, to, interval, boundary, series, total: { views: total, exact: to <= boundaryTime, overcountBound: totalBound }, partial };
}
