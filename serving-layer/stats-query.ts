/**
 * Metrics over a range, merged at the batch boundary B (see page-views-query.ts for views):
 *
 * - **visitors** (unique visitors) are a union, never a sum. Before B the batch layer keeps
 *   exact distinct visitors per UTC day; at or after B the speed layer keeps HyperLogLogs per
 *   hour (per page, or for the site) and per minute (for the site).
 *   - wholly before B: `count(DISTINCT visitor)` over the batch days — exact;
 *   - wholly after B: the union of the speed sketches — approximate, ± relative standard error;
 *   - straddling: the batch days' visitors enter the union as HyperLogLog registers built in
 *     the engine (`max(rank) GROUP BY index`, the same hash and register rule as the speed
 *     sketches), so the union counts a visitor seen on both sides once.
 *   Batch visitors are per day: a range before B is widened to whole UTC days, and speed
 *   sketches to whole hours; the answer says which range it counted (`countedFrom/To`).
 * - **breakdown by page**: batch page totals before B plus speed totals after it; pages beyond
 *   the speed layer's key budget come from the merged Space-Saving summaries, with their error.
 */
import { PlatformError, isPlatformError } from '../shared/core/errors.ts';
import { HLL_BATCH_PRECISION, HyperLogLog, SpaceSaving, unionOfEncoded } from '../shared/core/sketches/index.ts';
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from '../shared/core/time-buckets.ts';
import type { BatchBoundary, BatchViewStore, SpeedViewStore, ViewQuery } from '../shared/adapters/view-store/index.ts';

export type Store = SpeedViewStore & BatchViewStore;

export interface VisitorsValue {
  value: number;
  exact: boolean;
  /** For approximate values: the HyperLogLog relative standard error (value ± value × rse is ~68%). */
  relativeStandardError: number;
  /** The range actually counted (widened to whole days before the boundary, whole hours after). */
  countedFrom: number;
  countedTo: number;
}

/** The union of speed sketches, with a hint when their precision cannot meet the batch's. */
function hll(sketches: string[], precision?: number): HyperLogLog {
  try {
    return unionOfEncoded(sketches, precision) ?? new HyperLogLog(HLL_BATCH_PRECISION);
  } catch (err) {
    if (!isPlatformError(err, 'PV_SKETCH_INCOMPATIBLE')) throw err;
    throw new PlatformError(
      'PV_SKETCH_INCOMPATIBLE',
      `${err.message}; keep SPEED_HLL_PRECISION at ${HLL_BATCH_PRECISION} to count visitors across the batch boundary`,
      { cause: err },
    );
  }
}

/** Unique visitors over [from, to) of a site or one page. */
export async function queryVisitors(store: Store, query: ViewQuery, boundary: BatchBoundary | null): Promise<VisitorsValue> {
  const B = boundary?.cutoffTime ?? Number.NEGATIVE_INFINITY;
  const hasBatch = boundary !== null && query.from < B;
  const hasSpeed = query.to > B;
  const base = { site: query.site, ...(query.pageId === undefined ? {} : { pageId: query.pageId }) };
  const batchRange = hasBatch ? { from: bucketStart(query.from, 'day'), to: bucketCeil(Math.min(query.to, B), 'day') } : null;
  const speedFrom = hasBatch ? B : bucketStart(query.from, 'hour');
  const speedRange = hasSpeed ? { from: bucketStart(Math.max(speedFrom, query.from), 'hour'), to: bucketCeil(query.to, 'hour') } : null;
  const countedFrom = (batchRange ?? speedRange)?.from ?? query.from;
  const countedTo = Math.max(batchRange === null ? Number.NEGATIVE_INFINITY : Math.min(batchRange.to, B), speedRange?.to ?? Number.NEGATIVE_INFINITY);

  if (batchRange !== null && speedRange === null && boundary !== null) {
    const value = await store.batchVisitors(boundary.batchId, { ...base, ...batchRange });
    return { value, exact: true, relativeStandardError: 0, countedFrom, countedTo };
  }
  const [registers, sketches] = await Promise.all([
    batchRange !== null && boundary !== null ? store.batchVisitorRegisters(boundary.batchId, { ...base, ...batchRange }) : Promise.resolve(null),
    speedRange !== null ? store.speedVisitorSketches({ ...base, grain: 'hour', ...speedRange }) : Promise.resolve([]),
  ]);
  const union = registers === null ? hll(sketches) : hll(sketches, HLL_BATCH_PRECISION);
  if (registers !== null) union.merge(HyperLogLog.fromRegisters(HLL_BATCH_PRECISION, registers));
  return { value: Math.round(union.estimate()), exact: false, relativeStandardError: union.relativeStandardError, countedFrom, countedTo };
}

export interface VisitorsPoint {
  bucket: number;
  /** Null when the metric does not exist at this grain for this bucket (see `note`). */
  visitors: number | null;
  exact: boolean;
  relativeStandardError: number;
}

/**
 * Unique visitors per bucket. Day buckets work on both sides; hour buckets after the
 * boundary; minute buckets after the boundary for a whole site. Other buckets are null.
 */
export async function queryVisitorsSeries(
  store: Store,
  query: ViewQuery,
  interval: Interval,
  boundary: BatchBoundary | null,
): Promise<{ series: VisitorsPoint[]; note: string | null }> {
  const width = INTERVAL_MS[interval];
  const B = boundary?.cutoffTime ?? Number.NEGATIVE_INFINITY;
  const base = { site: query.site, ...(query.pageId === undefined ? {} : { pageId: query.pageId }) };
  const series: VisitorsPoint[] = [];
  let note: string | null = null;
  const byDay =
    interval === 'day' && boundary !== null && query.from < B
      ? new Map((await store.batchVisitorsByDay(boundary.batchId, { ...base, from: query.from, to: Math.min(query.to, bucketCeil(B, 'day')) })).map((d) => [d.bucket, d.visitors]))
      : new Map<number, number>();
  for (let bucket = query.from; bucket < query.to; bucket += width) {
    const end = bucket + width;
    if (end <= B) {
      if (interval === 'day') series.push({ bucket, visitors: byDay.get(bucket) ?? 0, exact: true, relativeStandardError: 0 });
      else {
        series.push({ bucket, visitors: null, exact: true, relativeStandardError: 0 });
        note = 'before the batch boundary, visitors are kept per day: use interval=day';
      }
      continue;
    }
    if (interval === 'minute' && query.pageId !== undefined) {
      series.push({ bucket, visitors: null, exact: false, relativeStandardError: 0 });
      note = 'per-minute visitors exist for a whole site only';
      continue;
    }
    if (bucket < B) {
      // A day that straddles the boundary: batch registers of the day ∪ speed hours after B.
      const v = await queryVisitors(store, { ...base, from: bucket, to: end }, boundary);
      series.push({ bucket, visitors: v.value, exact: false, relativeStandardError: v.relativeStandardError });
      continue;
    }
    const sketches = await store.speedVisitorSketches({ ...base, grain: interval === 'minute' ? 'minute' : 'hour', from: bucket, to: end });
    const union = hll(sketches);
    series.push({ bucket, visitors: Math.round(union.estimate()), exact: false, relativeStandardError: union.relativeStandardError });
  }
  return { series, note };
}

export interface PageRow {
  pageId: string;
  pageviews: number;
  exact: boolean;
  /** The count may be too high by at most this (top-pages summary error of the overflow). */
  overcountBound: number;
}

/** Pages by page views over [from, to), merged at the boundary; `offset`/`limit` page through them. */
export async function queryBreakdown(
  store: Store,
  query: { site: string; from: number; to: number; limit: number; offset: number },
  boundary: BatchBoundary | null,
): Promise<{ pages: PageRow[]; totalPages: number }> {
  const B = boundary?.cutoffTime ?? Number.NEGATIVE_INFINITY;
  const from = bucketStart(query.from, 'hour');
  const to = bucketCeil(query.to, 'hour');
  const cut = boundary === null ? from : Math.min(Math.max(B, from), to);
  const [batch, speed, summaries] = await Promise.all([
    boundary !== null && cut > from ? store.batchPageTotals(boundary.batchId, { site: query.site, from, to: cut }) : Promise.resolve([]),
    cut < to ? store.speedPageTotals({ site: query.site, from: cut, to }) : Promise.resolve([]),
    cut < to ? store.speedTopPageSummaries({ site: query.site, from: cut, to }) : Promise.resolve([]),
  ]);
  const rows = new Map<string, PageRow>();
  const row = (pageId: string): PageRow => {
    let r = rows.get(pageId);
    if (r === undefined) {
      r = { pageId, pageviews: 0, exact: cut >= to, overcountBound: 0 };
      rows.set(pageId, r);
    }
    return r;
  };
  for (const t of batch) row(t.pageId).pageviews += t.views;
  for (const t of speed) row(t.pageId).pageviews += t.views;
  if (summaries.length > 0) {
    let merged: SpaceSaving<string> | null = null;
    for (const encoded of summaries) {
      let summary: SpaceSaving<string>;
      try {
        summary = SpaceSaving.fromJSON<string>(JSON.parse(encoded) as unknown);
      } catch (err) {
        if (!isPlatformError(err) && !(err instanceof SyntaxError)) throw err;
        throw new PlatformError('PV_SKETCH_CORRUPT', 'a stored top-pages summary is unreadable', { cause: err });
      }
      merged = merged === null ? summary : merged.merge(summary);
    }
    for (const item of merged?.top() ?? []) {
      const r = row(item.key);
      r.pageviews += item.count;
      r.overcountBound += item.error;
    }
  }
  const sorted = [...rows.values()].sort((a, b) => b.pageviews - a.pageviews || a.pageId.localeCompare(b.pageId));
  return { pages: sorted.slice(query.offset, query.offset + query.limit), totalPages: sorted.length };
}
