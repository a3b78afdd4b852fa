/**
 * A published batch version of a site with many pages, for the serving layer's memory tests:
 * one view of each page in the hour before the cutoff, so every breakdown range that ends at
 * the cutoff holds every page.
 */
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import type { RawEventRow } from '../../shared/adapters/view-store/index.ts';

const HOUR = 3_600_000;

/** A page id of about 40 characters, like a real path. */
export function pagePath(i: number): string {
  return `/catalogue/section-${i % 97}/item-${String(i).padStart(6, '0')}-details`;
}

export async function publishManyPages(store: ViewStore, options: { site: string; pages: number; cutoffTime: number; batchId: string }): Promise<void> {
  const { site, pages, cutoffTime, batchId } = options;
  const rows: RawEventRow[] = [];
  for (let i = 0; i < pages; i++) {
    rows.push({
      partition: 0,
      offset: i,
      eventId: `${batchId}-${i}`,
      site,
      pageId: pagePath(i),
      visitorId: `v${i}`,
      visitorHllIndex: i % 16_384,
      visitorHllRank: 1 + (i % 7),
      eventTime: cutoffTime - HOUR + (i % 3_600) * 1000,
      referrer: '',
      userAgent: '',
    });
  }
  await store.appendRawEvents(rows);
  const stats = await store.buildBatchViews(batchId, { cutoffTime, endOffsets: new Map([[0, pages]]) });
  if (stats.rowsCounted !== pages) throw new Error(`publishManyPages: the batch counted ${stats.rowsCounted} events, expected ${pages}`);
  await store.recordBatchRun({
    batchId,
    status: 'success',
    startedAt: cutoffTime,
    finishedAt: cutoffTime + 1,
    cutoffTime,
    endOffsets: { '0': pages },
    rowsRead: pages,
    rowsInvalid: 0,
    rowsDuplicate: 0,
    rowsCounted: pages,
    error: null,
  });
}
