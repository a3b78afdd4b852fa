/**
 * queryBreakdown ranks the batch pages once per read and merges the few pages the speed side
 * touches into them. Ground truth: every page's total computed the plain way (one map, one full
 * sort), for random batch totals, speed totals, overflow summaries, offsets and limits — and
 * for the same batch read handed again (the serving layer's case), which reuses the ranking.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BatchBoundary, PageTotal, ViewReader } from '../../../shared/adapters/view-store/index.ts';
import { queryBreakdown, type PageRow } from '../../../shared/core/query/index.ts';
import { SpaceSaving } from '../../../shared/core/sketches/index.ts';

const HOUR = 3_600_000;
const CUTOFF = Date.UTC(2026, 3, 1, 12);
const boundary: BatchBoundary = { batchId: 'b', cutoffTime: CUTOFF, endOffsets: {}, publishedAt: CUTOFF };

function reference(batch: readonly PageTotal[], speed: readonly PageTotal[], top: SpaceSaving<string> | null, offset: number, limit: number): { pages: PageRow[]; totalPages: number } {
  const rows = new Map<string, PageRow>();
  const row = (pageId: string): PageRow => {
    let r = rows.get(pageId);
    if (r === undefined) {
      r = { pageId, pageviews: 0, exact: false, overcountBound: 0 };
      rows.set(pageId, r);
    }
    return r;
  };
  for (const t of batch) row(t.pageId).pageviews += t.views;
  for (const t of speed) row(t.pageId).pageviews += t.views;
  for (const item of top?.top() ?? []) {
    row(item.key).pageviews += item.count;
    row(item.key).overcountBound += item.error;
  }
  const sorted = [...rows.values()].sort((a, b) => b.pageviews - a.pageviews || a.pageId.localeCompare(b.pageId));
  return { pages: sorted.slice(offset, offset + limit), totalPages: sorted.length };
}

const page = fc.constantFrom(...Array.from({ length: 30 }, (_, i) => `/p${i}`), '/Z', '/a b', '/é');
const totals = fc.array(fc.record({ pageId: page, views: fc.integer({ min: 0, max: 50 }) }), { maxLength: 40 });

describe('queryBreakdown', () => {
  it('equals the plain merge and full sort, whatever the pages, ties, offset and limit; a batch read handed again gives the same', async () => {
    await fc.assert(
      fc.asyncProperty(
        totals,
        totals,
        fc.array(fc.record({ pageId: page, count: fc.integer({ min: 1, max: 9 }) }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 45 }),
        fc.integer({ min: 1, max: 45 }),
        async (batchRows, speedRows, overflow, offset, limit) => {
          // Batch reads have one row per page; speed totals too.
          const batch = [...new Map(batchRows.map((t) => [t.pageId, t])).values()];
          const speed = [...new Map(speedRows.map((t) => [t.pageId, t])).values()];
          let top: SpaceSaving<string> | null = null;
          if (overflow.length > 0) {
            top = new SpaceSaving<string>(5);
            for (const o of overflow) top.add(o.pageId, o.count);
          }
          const store = {
            batchPageTotals: () => Promise.resolve(batch),
            speedPageTotals: () => Promise.resolve(speed),
            speedTopPageSummaries: () => Promise.resolve(top === null ? [] : [JSON.stringify(top.toJSON())]),
          } as unknown as ViewReader;
          const query = { site: 's', from: CUTOFF - 5 * HOUR, to: CUTOFF + 2 * HOUR, offset, limit };
          const expected = reference(batch, speed, top, offset, limit);
          const strip = (r: { pages: PageRow[]; totalPages: number }) => ({ totalPages: r.totalPages, pages: r.pages.map((p) => [p.pageId, p.pageviews, p.overcountBound]) });
          expect(strip(await queryBreakdown(store, query, boundary))).toEqual(strip(expected));
          expect(strip(await queryBreakdown(store, query, boundary))).toEqual(strip(expected));
        },
      ),
      { numRuns: 300 },
    );
  });
});
