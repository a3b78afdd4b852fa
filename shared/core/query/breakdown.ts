/**
 * Pages by page views over a range, merged at the boundary: batch page totals before it plus
 * speed totals after it; pages beyond the speed layer's key budget come from the merged
 * Space-Saving summaries, with their error as the overcount bound.
 */
import { PlatformError, isPlatformError } from '../errors.ts';
import { SpaceSaving } from '../sketches/index.ts';
import { bucketCeil, bucketStart } from '../time-buckets.ts';
import type { BatchBoundary } from '../../adapters/view-store/index.ts';
import { splitAtBoundary } from './boundary-split.ts';
import type { QueryStore } from './visitors.ts';

export interface PageRow {
  pageId: string;
  pageviews: number;
  exact: boolean;
  /** The count may be too high by at most this (top-pages summary error of the overflow). */
  overcountBound: number;
}

/** Merges serialized top-pages summaries; an unreadable one is PV_SKETCH_CORRUPT. */
function mergeSummaries(encoded: readonly string[]): SpaceSaving<string> | null {
  let merged: SpaceSaving<string> | null = null;
  for (const text of encoded) {
    let summary: SpaceSaving<string>;
    try {
      summary = SpaceSaving.fromJSON<string>(JSON.parse(text) as unknown);
    } catch (err) {
      if (!isPlatformError(err) && !(err instanceof SyntaxError)) throw err;
      throw new PlatformError('PV_SKETCH_CORRUPT', 'a stored top-pages summary is unreadable', { cause: err });
    }
    merged = merged === null ? summary : merged.merge(summary);
  }
  return merged;
}

/** Pages by page views over [from, to) (whole hours), merged at the boundary; `offset`/`limit` page through them. */
export async function queryBreakdown(
  store: QueryStore,
  query: { site: string; from: number; to: number; limit: number; offset: number },
  boundary: BatchBoundary | null,
): Promise<{ pages: PageRow[]; totalPages: number }> {
  const from = bucketStart(query.from, 'hour');
  const to = bucketCeil(query.to, 'hour');
  const { batch, speed } = splitAtBoundary({ from, to }, boundary);
  const [batchTotals, speedTotals, summaries] = await Promise.all([
    batch !== null && boundary !== null ? store.batchPageTotals(boundary.batchId, { site: query.site, ...batch }) : Promise.resolve([]),
    speed !== null ? store.speedPageTotals({ site: query.site, ...speed }) : Promise.resolve([]),
    speed !== null ? store.speedTopPageSummaries({ site: query.site, ...speed }) : Promise.resolve([]),
  ]);
  const rows = new Map<string, PageRow>();
  const row = (pageId: string): PageRow => {
    let r = rows.get(pageId);
    if (r === undefined) {
      r = { pageId, pageviews: 0, exact: speed === null, overcountBound: 0 };
      rows.set(pageId, r);
    }
    return r;
  };
  for (const t of batchTotals) row(t.pageId).pageviews += t.views;
  for (const t of speedTotals) row(t.pageId).pageviews += t.views;
  for (const item of mergeSummaries(summaries)?.top() ?? []) {
    const r = row(item.key);
    r.pageviews += item.count;
    r.overcountBound += item.error;
  }
  const sorted = [...rows.values()].sort((a, b) => b.pageviews - a.pageviews || a.pageId.localeCompare(b.pageId));
  return { pages: sorted.slice(query.offset, query.offset + query.limit), totalPages: sorted.length };
}
