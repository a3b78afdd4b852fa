/**
 * Unique visitors over a range, merged at the batch boundary B. Visitors are a union, never
 * a sum. Before B the batch layer keeps exact distinct visitors per UTC day; at or after B
 * the speed layer keeps HyperLogLogs per hour (per page, or for the site) and per minute
 * (for the site).
 * - wholly before B: `count(DISTINCT visitor)` over the batch days — exact;
 * - wholly after B: the union of the speed sketches — approximate, ± relative standard error;
 * - straddling: the batch days' visitors enter the union as HyperLogLog registers built in
 *   the engine (`max(rank) GROUP BY index`, the same hash and register rule as the speed
 *   sketches), so the union counts a visitor seen on both sides once.
 * Batch visitors are per day: a range before B is widened to whole UTC days, and speed
 * sketches to whole hours; the answer says which range it counted (`countedFrom/To`).
 */
import { PlatformError, isPlatformError } from '../errors.ts';
import { HLL_BATCH_PRECISION, HyperLogLog, unionOfEncoded } from '../sketches/index.ts';
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from '../time-buckets.ts';
import type { BatchBoundary, ViewQuery, ViewReader } from '../../adapters/view-store/index.ts';
import type { PropertyFilter } from './properties.ts';
import { boundaryTime, isExact, splitAtBoundary } from './boundary-split.ts';

/** The queries only read: the serving layer, the compare report and the batch layer's divergence check hand them a reader. */
export type QueryStore = ViewReader;

/** Realtime visitors look back this far. */
export const REALTIME_WINDOW_MS = 5 * 60_000;

export interface VisitorsValue {
  value: number;
  exact: boolean;
  /** For approximate values: the HyperLogLog relative standard error (value ± value × rse is ~68%). */
  relativeStandardError: number;
  /** The range actually counted (widened to whole days before the boundary, whole hours after). */
  countedFrom: number;
  countedTo: number;
}

/**
 * The union of visitor sketches: speed sketches (serialized) and, across the boundary, the
 * batch layer's registers. Empty input is an empty sketch. The one place visitors are united.
 */
export function unionOfVisitors(speedSketches: readonly string[], batchRegisters: ReadonlyMap<number, number> | null = null): HyperLogLog {
  let union: HyperLogLog;
  try {
    union = unionOfEncoded(speedSketches, batchRegisters === null ? undefined : HLL_BATCH_PRECISION) ?? new HyperLogLog(HLL_BATCH_PRECISION);
  } catch (err) {
    if (!isPlatformError(err, 'PV_SKETCH_INCOMPATIBLE')) throw err;
    throw new PlatformError(
      'PV_SKETCH_INCOMPATIBLE',
      `${err.message}; keep SPEED_HLL_PRECISION at ${HLL_BATCH_PRECISION} to count visitors across the batch boundary`,
      { cause: err },
    );
  }
  if (batchRegisters !== null) union.merge(HyperLogLog.fromRegisters(HLL_BATCH_PRECISION, batchRegisters));
  return union;
}

/**
 * A set of pages (or dimension values) whose visitors are united: the filters they pass, which
 * the batch side applies in the engine, and the same set as the ids the speed side reads one by one.
 */
export interface PageUnion {
  filters: readonly PropertyFilter[];
  speed: readonly string[];
}

/** Unique visitors over [from, to) of a site, one page, or the union of a set of `pages`. */
export async function queryVisitors(store: QueryStore, query: ViewQuery & { pages?: PageUnion }, boundary: BatchBoundary | null): Promise<VisitorsValue> {
  const split = splitAtBoundary(query, boundary);
  const { pages } = query;
  const base = { site: query.site, ...(query.pageId === undefined ? {} : { pageId: query.pageId }), ...(pages === undefined ? {} : { pagesMatching: pages.filters }) };
  const batchRange = split.batch === null ? null : { from: bucketStart(split.batch.from, 'day'), to: bucketCeil(split.batch.to, 'day') };
  const speedRange = split.speed === null ? null : { from: bucketStart(split.speed.from, 'hour'), to: bucketCeil(split.speed.to, 'hour') };
  const countedFrom = (batchRange ?? speedRange)?.from ?? query.from;
  const countedTo = Math.max(
    batchRange === null ? Number.NEGATIVE_INFINITY : Math.min(batchRange.to, boundaryTime(boundary)),
    speedRange?.to ?? Number.NEGATIVE_INFINITY,
  );

  if (batchRange !== null && speedRange === null && boundary !== null) {
    const value = await store.batchVisitors(boundary.batchId, { ...base, ...batchRange });
    return { value, exact: true, relativeStandardError: 0, countedFrom, countedTo };
  }
  const [registers, sketches] = await Promise.all([
    batchRange !== null && boundary !== null ? store.batchVisitorRegisters(boundary.batchId, { ...base, ...batchRange }) : Promise.resolve(null),
    speedRange === null
      ? Promise.resolve([])
      : pages === undefined
        ? store.speedVisitorSketches({ ...base, grain: 'hour', ...speedRange })
        : Promise.all(pages.speed.map((pageId) => store.speedVisitorSketches({ site: query.site, pageId, grain: 'hour', ...speedRange }))).then((all) => all.flat()),
  ]);
  const union = unionOfVisitors(sketches, registers);
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
 *
 * The store is read a bounded number of times whatever the number of buckets: the batch
 * days once (`batchVisitorsByDay`), the speed sketches of every bucket wholly after the
 * boundary once (`speedVisitorSketchesByBucket`, grouped here by the series' buckets; a day
 * is the union of its hours), and a day that straddles the boundary (at most one) with its
 * own union (`queryVisitors`: batch registers and speed hours).
 */
export async function queryVisitorsSeries(
  store: QueryStore,
  query: ViewQuery,
  interval: Interval,
  boundary: BatchBoundary | null,
): Promise<{ series: VisitorsPoint[]; note: string | null }> {
  const width = INTERVAL_MS[interval];
  const B = boundaryTime(boundary);
  const base = { site: query.site, ...(query.pageId === undefined ? {} : { pageId: query.pageId }) };
  const series: VisitorsPoint[] = [];
  let note: string | null = null;
  const [batchDays, speedSketches] = await Promise.all([
    interval === 'day' && boundary !== null && query.from < B
      ? store.batchVisitorsByDay(boundary.batchId, { ...base, from: query.from, to: Math.min(query.to, bucketCeil(B, 'day')) })
      : Promise.resolve([]),
    speedSketchesBySeriesBucket(store, query, interval, B),
  ]);
  const byDay = new Map(batchDays.map((d) => [d.bucket, d.visitors]));
  for (let bucket = query.from; bucket < query.to; bucket += width) {
    const end = bucket + width;
    if (isExact(end, boundary)) {
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
    const union = unionOfVisitors(speedSketches.get(bucket) ?? []);
    series.push({ bucket, visitors: Math.round(union.estimate()), exact: false, relativeStandardError: union.relativeStandardError });
  }
  return { series, note };
}

/**
 * The speed sketches of the series' buckets that start at or after the boundary `B`, read
 * in one query and grouped by series bucket (the grid starts at `query.from`): minute
 * sketches for minute buckets, hour sketches for hour and day buckets.
 */
async function speedSketchesBySeriesBucket(store: QueryStore, query: ViewQuery, interval: Interval, B: number): Promise<Map<number, string[]>> {
  const width = INTERVAL_MS[interval];
  const from = B <= query.from ? query.from : query.from + Math.ceil((B - query.from) / width) * width;
  const grouped = new Map<number, string[]>();
  if (from >= query.to || (interval === 'minute' && query.pageId !== undefined)) return grouped;
  const rows = await store.speedVisitorSketchesByBucket({
    site: query.site,
    ...(query.pageId === undefined ? {} : { pageId: query.pageId }),
    grain: interval === 'minute' ? 'minute' : 'hour',
    from,
    to: query.to,
  });
  for (const { bucket, sketches } of rows) {
    const start = query.from + Math.floor((bucket - query.from) / width) * width;
    const kept = grouped.get(start);
    if (kept === undefined) grouped.set(start, [...sketches]);
    else for (const sketch of sketches) kept.push(sketch);
  }
  return grouped;
}

/** The minutes realtime numbers cover at `now`: from the minute REALTIME_WINDOW_MS ago through the current minute. */
export function realtimeWindow(now: number): { from: number; to: number } {
  return { from: bucketStart(now - REALTIME_WINDOW_MS, 'minute'), to: bucketCeil(now + 1, 'minute') };
}

/** Visitors of a site in the last REALTIME_WINDOW_MS (whole minutes): the union of the speed minute sketches. */
export async function queryRealtimeVisitors(store: QueryStore, site: string, now: number): Promise<{ from: number; value: number; relativeStandardError: number }> {
  const { from, to } = realtimeWindow(now);
  const sketches = await store.speedVisitorSketches({ site, grain: 'minute', from, to });
  const union = unionOfVisitors(sketches);
  return { from, value: sketches.length === 0 ? 0 : Math.round(union.estimate()), relativeStandardError: sketches.length === 0 ? 0 : union.relativeStandardError };
}
