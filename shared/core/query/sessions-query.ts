/**
 * Session metrics over a range (shared/core/sessions.ts), merged at the batch boundary like page
 * views: sessions are bucketed by their start, so the sessions that start before the boundary
 * are the batch layer's (exact, counted whole even when they go on past it) and those that start
 * at or after it are the speed layer's. Both sides give sums (visits, bounces, duration, page
 * views); they add, and the ratios are taken from the sums at the end (`sessionMetricValue`).
 *
 * Speed sums count the sessions still open as they stand now: a visit's bounce, duration and
 * pages can still change until 30 minutes pass without an event, so speed numbers are never
 * `exact`. The speed layer's sums are exact counts otherwise (no sketch), except that an event
 * arriving more than the gap before its visitor's open session, or after the visitor's session
 * was evicted early (beyond the memory budget), counts as a visit of its own until the batch
 * layer recomputes it (docs/speed-layer.md, "Sessions").
 */
import { PlatformError } from '../errors.ts';
import { INTERVAL_MS, bucketStart, type Interval } from '../time-buckets.ts';
import { addTotals, emptyTotals, type SessionTotals } from '../sessions.ts';
import type { BatchBoundary, BucketSessions, PageSessions, ViewQuery, ViewReader } from '../../adapters/view-store/index.ts';
import { bucketRange, readBatchSide } from './page-views.ts';
import { isExact, splitAtBoundary } from './boundary-split.ts';
import { DIMENSION_SEPARATOR } from '../dimensions.ts';

/** The properties sessions are broken down (and filtered) by, and where their sums are kept. */
export const SESSION_PROPERTIES = {
  'visit:entry_page': { description: 'The first page of the visit.' },
  'visit:exit_page': { description: 'The last page of the visit (of a visit still open: its last page so far).' },
} as const;

export type SessionProperty = keyof typeof SESSION_PROPERTIES;

export function isSessionProperty(name: string): name is SessionProperty {
  return Object.hasOwn(SESSION_PROPERTIES, name);
}

/** The site the session sums of `property` of `site` are kept under (as dimension views are). */
export function sessionSite(site: string, property: SessionProperty): string {
  return `${site}${DIMENSION_SEPARATOR}${property}`;
}

export interface SessionsRequest {
  site: string;
  /** With `page`: only the sessions whose entry (or exit) page is `page`. */
  scope?: { property: SessionProperty; page: string };
  from: number;
  to: number;
  interval: Interval;
}

export interface SessionsPoint extends SessionTotals {
  bucket: number;
  /** True when the whole bucket lies before the boundary (batch, exact). */
  exact: boolean;
}

export interface SessionsAnswer {
  from: number;
  to: number;
  interval: Interval;
  boundary: BatchBoundary | null;
  series: SessionsPoint[];
  total: SessionTotals & { exact: boolean };
}

/** Sums rolled up into buckets of an interval. */
class SessionRollup {
  private readonly buckets = new Map<number, SessionTotals>();
  constructor(private readonly interval: Interval) {}

  add(row: BucketSessions): void {
    const bucket = bucketStart(row.bucket, this.interval);
    const seen = this.buckets.get(bucket);
    if (seen === undefined) this.buckets.set(bucket, addTotals(emptyTotals(), row));
    else addTotals(seen, row);
  }

  get(bucket: number): SessionTotals {
    return this.buckets.get(bucket) ?? emptyTotals();
  }
}

function viewQueryOf(request: Pick<SessionsRequest, 'site' | 'scope'>): Pick<ViewQuery, 'site' | 'pageId'> {
  return request.scope === undefined ? { site: request.site } : { site: sessionSite(request.site, request.scope.property), pageId: request.scope.page };
}

/** Session sums per bucket of the interval and in total, over the sessions that start in [from, to). */
export async function querySessions(store: ViewReader, request: SessionsRequest): Promise<SessionsAnswer> {
  const { interval } = request;
  const { from, to } = bucketRange(request.from, request.to, interval);
  const { boundary, batch, speed } = splitAtBoundary({ from, to }, await store.latestBoundary());
  if (interval === 'minute' && batch !== null) {
    throw new PlatformError(
      'PV_QUERY_INVALID',
      `minute buckets are available only from the batch boundary on (${new Date(boundary?.cutoffTime ?? 0).toISOString()}); use interval=hour or day for earlier times`,
    );
  }
  const scope = viewQueryOf(request);
  const [batchRows, speedRows] = await Promise.all([
    batch !== null && boundary !== null
      ? readBatchSide((q, grain) => store.batchSessions(boundary.batchId, q, grain), { ...scope, ...batch }, interval)
      : Promise.resolve<BucketSessions[]>([]),
    speed !== null ? store.speedSessions({ ...scope, ...speed }) : Promise.resolve<BucketSessions[]>([]),
  ]);
  const rollup = new SessionRollup(interval);
  for (const row of batchRows) rollup.add(row);
  for (const row of speedRows) rollup.add(row);
  const series: SessionsPoint[] = [];
  const total = emptyTotals();
  for (let bucket = from; bucket < to; bucket += INTERVAL_MS[interval]) {
    const sums = rollup.get(bucket);
    addTotals(total, sums);
    series.push({ bucket, ...sums, exact: isExact(bucket + INTERVAL_MS[interval], boundary) });
  }
  return { from, to, interval, boundary, series, total: { ...total, exact: isExact(to, boundary) } };
}

export interface SessionPageRow extends PageSessions {
  exact: boolean;
}

/** Session sums per entry (or exit) page over the sessions that start in [from, to) (hour-aligned), most visits first. */
export async function querySessionPages(
  store: ViewReader,
  request: { site: string; property: SessionProperty; from: number; to: number },
): Promise<{ boundary: BatchBoundary | null; rows: SessionPageRow[] }> {
  const { from, to } = bucketRange(request.from, request.to, 'hour');
  const { boundary, batch, speed } = splitAtBoundary({ from, to }, await store.latestBoundary());
  const site = sessionSite(request.site, request.property);
  const [batchRows, speedRows] = await Promise.all([
    batch !== null && boundary !== null ? store.batchSessionPages(boundary.batchId, { site, ...batch }) : Promise.resolve<PageSessions[]>([]),
    speed !== null ? store.speedSessionPages({ site, ...speed }) : Promise.resolve<PageSessions[]>([]),
  ]);
  const pages = new Map<string, SessionPageRow>();
  const exact = speed === null;
  for (const row of [...batchRows, ...speedRows]) {
    const seen = pages.get(row.pageId);
    if (seen === undefined) pages.set(row.pageId, { ...row, exact });
    else addTotals(seen, row);
  }
  const rows = [...pages.values()].filter((r) => r.visits > 0).sort((a, b) => b.visits - a.visits || (a.pageId < b.pageId ? -1 : a.pageId > b.pageId ? 1 : 0));
  return { boundary, rows };
}
