/**
 * The merge at the batch boundary (invariant 2): buckets before the latest successful
 * boundary come from the published batch views (exact), buckets at or after it from the
 * speed views (approximate). Both sides are read at their finest grain (batch: hour,
 * speed: minute) and rolled up to the requested interval, so a day bucket that straddles
 * an hour-aligned boundary is batch hours plus speed minutes: no gap, no double count.
 */
import { PlatformError } from '../shared/errors.ts';
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from '../shared/time-buckets.ts';
import type { BatchBoundary, BatchViewStore, BucketViews, SpeedViewStore } from '../shared/view-store/index.ts';

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
}

export interface PageViewsAnswer {
  /** Range actually covered: from floored and to ceiled to the interval. */
  from: number;
  to: number;
  interval: Interval;
  /** The batch boundary: buckets before it are exact. Null when no batch run has succeeded. */
  boundary: BatchBoundary | null;
  series: PageViewsPoint[];
  total: { views: number; exact: boolean };
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
  const [batchRows, speedRows] = await Promise.all([
    boundary !== null && cut > from ? store.batchViews(boundary.batchId, { ...filter, from, to: cut }) : Promise.resolve<BucketViews[]>([]),
    cut < to ? store.speedViews({ ...filter, from: cut, to }) : Promise.resolve<BucketViews[]>([]),
  ]);

  const views = new Map<number, number>();
  for (const row of [...batchRows, ...speedRows]) {
    const bucket = bucketStart(row.bucket, interval);
    views.set(bucket, (views.get(bucket) ?? 0) + row.views);
  }
  const boundaryTime = boundary?.cutoffTime ?? Number.NEGATIVE_INFINITY;
  const series: PageViewsPoint[] = [];
  let total = 0;
  for (let bucket = from; bucket < to; bucket += width) {
    const v = views.get(bucket) ?? 0;
    total += v;
    series.push({ bucket, views: v, exact: bucket + width <= boundaryTime });
  }
  return { from, to, interval, boundary, series, total: { views: total, exact: to <= boundaryTime } };
}
