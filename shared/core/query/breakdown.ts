/**
 * Pages by page views over a range, merged at the boundary: batch page totals before it plus
 * speed totals after it; pages beyond the speed layer's key budget come from the merged
 * Space-Saving summaries, with their error as the overcount bound.
 */
import { PlatformError, isPlatformError } from '../errors.ts';
import { SpaceSaving } from '../sketches/index.ts';
import { bucketCeil, bucketStart } from '../time-buckets.ts';
import type { BatchBoundary, PageTotal } from '../../adapters/view-store/index.ts';
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
  // Pages the speed side touches (few): their batch views plus what speed adds.
  const ranks = rankedBatchTotals(batchTotals);
  const touched = new Map<string, PageRow>();
  const row = (pageId: string): PageRow => {
    let r = touched.get(pageId);
    if (r === undefined) {
      r = { pageId, pageviews: ranks.views.get(pageId) ?? 0, exact: speed === null, overcountBound: 0 };
      touched.set(pageId, r);
    }
    return r;
  };
  for (const t of speedTotals) row(t.pageId).pageviews += t.views;
  for (const item of mergeSummaries(summaries)?.top() ?? []) {
    const r = row(item.key);
    r.pageviews += item.count;
    r.overcountBound += item.error;
  }
  let totalPages = ranks.ranked.length;
  for (const pageId of touched.keys()) if (!ranks.views.has(pageId)) totalPages++;
  // The untouched batch pages are already in rank order: merge them with the touched ones.
  const moved = [...touched.values()].sort(byRank);
  const wanted = query.offset + query.limit;
  const merged: PageRow[] = [];
  let i = 0;
  let j = 0;
  while (merged.length < wanted) {
    while (i < ranks.ranked.length && touched.has(ranks.ranked[i]!.pageId)) i++;
    const fromBatch = ranks.ranked[i];
    const fromSpeed = moved[j];
    if (fromBatch === undefined && fromSpeed === undefined) break;
    const batchRow = fromBatch === undefined ? undefined : { pageId: fromBatch.pageId, pageviews: fromBatch.views, exact: speed === null, overcountBound: 0 };
    if (fromSpeed === undefined || (batchRow !== undefined && byRank(batchRow, fromSpeed) <= 0)) {
      merged.push(batchRow!);
      i++;
    } else {
      merged.push(fromSpeed);
      j++;
    }
  }
  return { pages: merged.slice(query.offset), totalPages };
}

/** Rank order: most page views first, then page id. */
function byRank(a: { pageId: string; pageviews: number }, b: { pageId: string; pageviews: number }): number {
  return b.pageviews - a.pageviews || a.pageId.localeCompare(b.pageId);
}

interface RankedTotals {
  ranked: readonly PageTotal[];
  views: ReadonlyMap<string, number>;
}

/**
 * The batch page totals in rank order, with a lookup by page: computed once per result array,
 * for the last RANKED_KEPT arrays. A published version never changes, so readers that keep their
 * batch reads (the serving layer) hand the same array again and the ranking of a site's pages is
 * not redone per query. Only a few are kept: a ranking is as large as its read, and a flood of
 * distinct ranges must not hold one per read beside the reads' own cache.
 */
const RANKED_KEPT = 4;
const rankedByRead = new Map<readonly PageTotal[], RankedTotals>();

function rankedBatchTotals(totals: readonly PageTotal[]): RankedTotals {
  let ranked = rankedByRead.get(totals);
  if (ranked === undefined) {
    const views = new Map<string, number>();
    for (const t of totals) views.set(t.pageId, (views.get(t.pageId) ?? 0) + t.views);
    const list = [...views].map(([pageId, v]) => ({ pageId, views: v }));
    list.sort((a, b) => b.views - a.views || a.pageId.localeCompare(b.pageId));
    ranked = { ranked: list, views };
    if (rankedByRead.size >= RANKED_KEPT) rankedByRead.delete(rankedByRead.keys().next().value!);
  } else {
    rankedByRead.delete(totals); // most recently used last
  }
  rankedByRead.set(totals, ranked);
  return ranked;
}
