/**
 * The compare report as GET /api/v1/compare answers it, and `npm run compare` prints it (from
 * this answer, whether it asked a running server or read the store itself): speed against batch
 * per bucket, with the range that was compared and what bounds it when it is empty.
 */
import type { z } from 'zod';
import { compareSpeedBatch, type Comparison, type QueryStore } from '../shared/core/query/index.ts';
import { isoTime as iso } from './iso-time.ts';
import { rangeOf } from './query-params.ts';
import type { compareQuery } from './query-schemas.ts';

export type CompareQuery = z.output<typeof compareQuery>;

export interface CompareAnswer {
  site: string;
  page: string | null;
  interval: 'hour' | 'day';
  /** The range asked for (the default: the last 7 days). */
  from: string;
  to: string;
  /** The batch boundary: null before the first successful run. */
  exactThrough: string | null;
  /** The speed layer's retention point: it keeps its views from here (null: since it started). */
  speedKeptFrom: string | null;
  /** The whole buckets of the range both layers hold; equal when there are none. */
  comparedFrom: string;
  comparedTo: string;
  /** Null when there is something to compare; else why not, as a sentence. */
  nothingToCompare: string | null;
  rows: (Omit<Comparison['rows'][number], 'bucket'> & { bucket: string })[];
  totals: Comparison['totals'];
  visitors: Comparison['visitors'];
  sessions: Comparison['sessions'];
}

export async function compareAnswer(store: QueryStore, query: CompareQuery, now: number): Promise<CompareAnswer> {
  const { site, page: pageId, interval } = query;
  const range = rangeOf(query, now, '7d');
  const boundary = await store.latestBoundary();
  const c = await compareSpeedBatch(store, { site, ...(pageId === undefined ? {} : { pageId }), from: range.from, to: range.to, interval }, boundary);
  const retainedFrom = c.speedRetainedFrom;
  let nothingToCompare: string | null = null;
  if (boundary === null) nothingToCompare = 'no successful batch run yet, so there are no exact numbers to compare with (run one: npm run batch -- --now)';
  else if (c.from >= c.to) {
    // Not "within: yes" over nothing: say which side leaves no bucket to compare.
    nothingToCompare =
      `no whole ${interval} of ${iso(range.from)} .. ${iso(range.to)} is held by both layers ` +
      `(the batch layer is exact through ${iso(boundary.cutoffTime)}; the speed layer keeps its views ${retainedFrom === null ? 'since it started' : `from ${iso(retainedFrom)}`}): ` +
      'ask for a range before the boundary, within the speed layer\'s retention';
  }
  return {
    site,
    page: pageId ?? null,
    interval,
    from: iso(range.from),
    to: iso(range.to),
    exactThrough: boundary === null ? null : iso(boundary.cutoffTime),
    speedKeptFrom: retainedFrom === null ? null : iso(retainedFrom),
    comparedFrom: iso(c.from),
    comparedTo: iso(c.to),
    nothingToCompare,
    rows: c.rows.map((r) => ({ ...r, bucket: iso(r.bucket) })),
    totals: c.totals,
    visitors: c.visitors,
    sessions: c.sessions,
  };
}
