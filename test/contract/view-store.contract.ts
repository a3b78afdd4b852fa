/**
 * The view-store contract: the same assertions against ClickHouse and DuckDB, so the
 * embedded default cannot drift from production.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hash64 } from '../../shared/core/sketches/hash.ts';
import { CountMinSketch } from '../../shared/core/sketches/count-min.ts';
import { speedLateLane, type RawEventRow, type SpeedMinuteRow, type ViewStore } from '../../shared/adapters/view-store/index.ts';

/** Speed counter rows alone, as a flush writes them (readers take the highest version per key). */
const writeMinutes = (store: ViewStore, pageMinutes: SpeedMinuteRow[]): Promise<void> => store.writeSpeedRows({ pageMinutes, overflow: [], visitors: [] });
import { DIMENSION_PROPERTIES, DIMENSION_SEPARATOR } from '../../shared/core/dimensions.ts';
import { suiteName } from '../support/infra.ts';
import { truthSessions, truthTotals } from '../support/ground-truth-sessions.ts';

const HOUR = 3_600_000;
const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 10); // a day start

export type StoreFactory = () => Promise<{ store: ViewStore; cleanup: () => Promise<void> }>;

let seq = 0;
function raw(partition: number, offset: number, over: Partial<RawEventRow> = {}): RawEventRow {
  seq += 1;
  return {
    partition,
    offset,
    eventId: over.eventId ?? randomUUID(),
    site: 'default',
    pageId: '/a',
    visitorId: `v${seq}`,
    visitorHllIndex: seq % 16384,
    visitorHllRank: 1 + (seq % 5),
    eventTime: T0,
    referrer: '',
    userAgent: '',
    ...over,
  };
}

export function describeViewStoreContract(name: string, factory: StoreFactory, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`ViewStore contract: ${name}`, options.skip), () => {
    let store: ViewStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await factory());
      await store.migrate();
    });
    afterEach(async () => {
      await cleanup();
    });

    it('migrate is idempotent and ping answers', async () => {
      await store.migrate();
      expect(await store.ping()).toBe(true);
    });

    it('speed rows: the highest version wins, partitions are summed, ranges are half-open', async () => {
      await writeMinutes(store, [
        { partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 5, version: 1 },
        { partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 7, version: 2 },
        { partition: 1, site: 'default', pageId: '/a', bucket: T0, views: 3, version: 1 },
        { partition: 1, site: 'default', pageId: '/b', bucket: T0 + MIN, views: 4, version: 1 },
        { partition: 0, site: 'other', pageId: '/a', bucket: T0, views: 100, version: 1 },
      ]);
      // An older version arriving late does not overwrite a newer one.
      await writeMinutes(store, [{ partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 1, version: 1 }]);
      expect(await store.speedViews({ site: 'default', pageId: '/a', from: T0, to: T0 + HOUR })).toEqual([
        { bucket: T0, views: 10, overcountBound: 0 },
      ]);
      expect(await store.speedViews({ site: 'default', from: T0, to: T0 + HOUR })).toEqual([
        { bucket: T0, views: 10, overcountBound: 0 },
        { bucket: T0 + MIN, views: 4, overcountBound: 0 },
      ]);
      expect(await store.speedViews({ site: 'default', from: T0, to: T0 + MIN })).toEqual([{ bucket: T0, views: 10, overcountBound: 0 }]);
      expect(await store.speedViews({ site: 'default', from: T0 + MIN, to: T0 + 2 * MIN })).toEqual([
        { bucket: T0 + MIN, views: 4, overcountBound: 0 },
      ]);
    });

    it('speed overflow: a site total is exact, a page gets the Count-Min estimate and its bound', async () => {
      const width = 4;
      const depth = 2;
      // The cells of /x and /a in a 2x4 sketch, as the speed layer's sketch computes them.
      const cellsOf = (page: string): number[] => {
        const h = hash64(page);
        return CountMinSketch.fromCells(width, depth, new Float64Array(8)).cellIndexes(h.hi, h.lo);
      };
      const cms = (counts: Record<string, number>): number[] => {
        const cells = new Array<number>(8).fill(0);
        for (const [page, count] of Object.entries(counts)) for (const c of cellsOf(page)) cells[c]! += count;
        return cells;
      };
      const overflow = (partition: number, total: number, cms: number[], version: number) => ({
        partition, site: 'default', bucket: T0, total, cmsWidth: width, cmsDepth: depth, cms, topPages: '[["/x",3,0]]', version,
      });
      await store.writeSpeedRows({
        pageMinutes: [{ partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 5, version: 1 }],
        overflow: [
          overflow(0, 4, cms({ '/x': 3, '/y': 1 }), 1),
          overflow(0, 1, cms({ '/x': 1 }), 0), // older version: ignored
          overflow(1, 2, cms({ '/x': 1, '/z': 1 }), 1),
          { ...overflow(2, 9, [9, 9, 9, 9, 9, 9, 9, 9], 1), cmsWidth: 8, cmsDepth: 1 }, // another sketch shape (other settings)
        ],
        visitors: [],
      });
      expect(await store.speedViews({ site: 'default', from: T0, to: T0 + MIN })).toEqual([
        { bucket: T0, views: 5 + 4 + 2 + 9, overcountBound: 0 },
      ]);
      // /x has 4 overflow views in the 2x4 sketches: the estimate is at least 4 and at most the
      // 6 they hold; the 1x8 sketch's cells are all 9. Each shape adds its estimate and its
      // bound ceil(e / width × total).
      const x = await store.speedViews({ site: 'default', pageId: '/x', from: T0, to: T0 + MIN });
      expect(x).toHaveLength(1);
      expect(x[0]!.views).toBeGreaterThanOrEqual(4 + 9);
      expect(x[0]!.views).toBeLessThanOrEqual(6 + 9);
      expect(x[0]!.overcountBound).toBe(Math.ceil((Math.E / 4) * 6) + Math.ceil((Math.E / 8) * 9));
      const exactOnly = await store.speedViews({ site: 'default', pageId: '/a', from: T0 + MIN, to: T0 + 2 * MIN });
      expect(exactOnly).toEqual([]);
    });

    it('page totals for a breakdown: batch hours, speed minutes, and overflow top-page summaries', async () => {
      await store.appendRawEvents([raw(0, 0, { pageId: '/a' }), raw(0, 1, { pageId: '/a' }), raw(0, 2, { pageId: '/b', eventTime: T0 + HOUR })]);
      await store.buildBatchViews('t', { cutoffTime: T0 + 2 * HOUR, endOffsets: new Map([[0, 3]]) });
      const byPage = (rows: { pageId: string; views: number }[]) => Object.fromEntries(rows.map((r) => [r.pageId, r.views]));
      expect(byPage(await store.batchPageTotals('t', { site: 'default', from: T0, to: T0 + 2 * HOUR }))).toEqual({ '/a': 2, '/b': 1 });
      expect(byPage(await store.batchPageTotals('t', { site: 'default', from: T0 + HOUR, to: T0 + 2 * HOUR }))).toEqual({ '/b': 1 });
      await store.writeSpeedRows({
        pageMinutes: [
          { partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 3, version: 1 },
          { partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 4, version: 2 },
          { partition: 1, site: 'default', pageId: '/a', bucket: T0 + MIN, views: 1, version: 1 },
          { partition: 1, site: 'default', pageId: '/c', bucket: T0 + MIN, views: 2, version: 1 },
        ],
        overflow: [{ partition: 0, site: 'default', bucket: T0, total: 1, cmsWidth: 1, cmsDepth: 1, cms: [1], topPages: 'summary-1', version: 1 }],
        visitors: [],
      });
      expect(byPage(await store.speedPageTotals({ site: 'default', from: T0, to: T0 + HOUR }))).toEqual({ '/a': 5, '/c': 2 });
      expect(await store.speedTopPageSummaries({ site: 'default', from: T0, to: T0 + HOUR })).toEqual(['summary-1']);
    });

    it('speed visitor sketches: the latest per partition and bucket, by grain and page', async () => {
      const v = (partition: number, pageId: string, grain: 'minute' | 'hour', bucket: number, hll: string, version: number) => ({
        partition, site: 'default', pageId, grain, bucket, hll, version,
      });
      await store.writeSpeedRows({
        pageMinutes: [],
        overflow: [],
        visitors: [
          v(0, '', 'minute', T0, 'old', 1),
          v(0, '', 'minute', T0, 'new', 2),
          v(1, '', 'minute', T0, 'p1', 1),
          v(0, '', 'minute', T0 + MIN, 'later', 1),
          v(0, '/a', 'hour', T0, 'page', 1),
          v(0, '', 'hour', T0, 'site-hour', 1),
        ],
      });
      expect((await store.speedVisitorSketches({ site: 'default', grain: 'minute', from: T0, to: T0 + MIN })).sort()).toEqual(['new', 'p1']);
      expect(await store.speedVisitorSketches({ site: 'default', pageId: '/a', grain: 'hour', from: T0, to: T0 + HOUR })).toEqual(['page']);
      expect(await store.speedVisitorSketches({ site: 'default', grain: 'hour', from: T0, to: T0 + HOUR })).toEqual(['site-hour']);
    });

    it('speed visitor sketches by bucket: one read, grouped and ordered by bucket, the latest per partition, by grain and page', async () => {
      // [partition, pageId, grain, bucket, hll, version]
      const rows: [number, string, 'minute' | 'hour', number, string, number][] = [
        [1, '', 'minute', T0 + 2 * MIN, 'm2-p1', 1],
        [0, '', 'minute', T0, 'm0-old', 1],
        [0, '', 'minute', T0, 'm0-new', 2],
        [1, '', 'minute', T0, 'm0-p1', 1],
        [0, '', 'minute', T0 + 2 * MIN, 'm2-p0', 1],
        [0, '', 'minute', T0 + 3 * MIN, 'm3-outside', 1],
        [0, '/a', 'minute', T0 + MIN, 'page-minute', 1],
        [0, '', 'hour', T0, 'site-hour', 1],
        [0, '/a', 'hour', T0 + HOUR, 'page-hour', 1],
      ];
      const visitors = rows.map(([partition, pageId, grain, bucket, hll, version]) => ({ partition, site: 'default', pageId, grain, bucket, hll, version }));
      await store.writeSpeedRows({ pageMinutes: [], overflow: [], visitors });
      const minutes = await store.speedVisitorSketchesByBucket({ site: 'default', grain: 'minute', from: T0, to: T0 + 3 * MIN });
      expect(minutes.map((b) => ({ bucket: b.bucket, sketches: [...b.sketches].sort() }))).toEqual([
        { bucket: T0, sketches: ['m0-new', 'm0-p1'] },
        { bucket: T0 + 2 * MIN, sketches: ['m2-p0', 'm2-p1'] },
      ]);
      expect(await store.speedVisitorSketchesByBucket({ site: 'default', pageId: '/a', grain: 'hour', from: T0, to: T0 + 2 * HOUR })).toEqual([
        { bucket: T0 + HOUR, sketches: ['page-hour'] },
      ]);
      expect(await store.speedVisitorSketchesByBucket({ site: 'other', grain: 'minute', from: T0, to: T0 + HOUR })).toEqual([]);
      // The same sketches as the flat read, bucket by bucket.
      const flat = await store.speedVisitorSketches({ site: 'default', grain: 'minute', from: T0, to: T0 + HOUR });
      const grouped = await store.speedVisitorSketchesByBucket({ site: 'default', grain: 'minute', from: T0, to: T0 + HOUR });
      expect(grouped.flatMap((b) => b.sketches).sort()).toEqual([...flat].sort());
    });

    it('speed partition state is restored as of a checkpoint version, for every kind of row', async () => {
      const base = { partition: 0, site: 'default', bucket: T0 };
      await store.writeSpeedRows({
        pageMinutes: [{ ...base, pageId: '/a', views: 1, version: 1 }],
        overflow: [{ ...base, total: 2, cmsWidth: 2, cmsDepth: 1, cms: [2, 0], topPages: '[]', version: 1 }],
        visitors: [{ ...base, pageId: '', grain: 'minute', hll: 'v1', version: 1 }],
      });
      await store.writeSpeedCheckpoint({ partition: 0, nextOffset: 3, replayFrom: 3, maxEventTime: T0, version: 1 });
      await store.writeSpeedRows({
        pageMinutes: [{ ...base, pageId: '/a', views: 2, version: 2 }],
        overflow: [{ ...base, total: 3, cmsWidth: 2, cmsDepth: 1, cms: [3, 0], topPages: '[]', version: 2 }],
        visitors: [{ ...base, pageId: '', grain: 'minute', hll: 'v2', version: 2 }],
      });
      const state = await store.speedPartitionState(0, 1, T0);
      expect(state.pageMinutes).toEqual([{ ...base, pageId: '/a', views: 1, version: 1 }]);
      expect(state.overflow).toEqual([{ ...base, total: 2, cmsWidth: 2, cmsDepth: 1, cms: [2, 0], topPages: '[]', version: 1 }]);
      expect(state.visitors).toEqual([{ ...base, pageId: '', grain: 'minute', hll: 'v1', version: 1 }]);
      await store.writeSpeedCheckpoint({ partition: 0, nextOffset: 5, replayFrom: 5, maxEventTime: T0, version: 2 });
      expect((await store.speedPartitionState(0, 2, T0)).overflow[0]?.total).toBe(3);
    });

    it('a speed flush writes every partition\'s rows and checkpoints in one call', async () => {
      const base = { site: 'default', bucket: T0 };
      await store.writeSpeedFlush(
        {
          pageMinutes: [{ ...base, partition: 0, pageId: '/a', views: 3, version: 7 }, { ...base, partition: 1, pageId: '/a', views: 2, version: 8 }],
          overflow: [],
          visitors: [{ ...base, partition: 1, pageId: '', grain: 'minute', hll: 'h', version: 8 }],
        },
        [{ partition: 0, nextOffset: 4, replayFrom: 4, maxEventTime: T0, version: 7 }, { partition: 1, nextOffset: 9, replayFrom: 9, maxEventTime: T0, version: 8 }],
      );
      expect(await store.speedCheckpoints()).toEqual(
        new Map([
          [0, { partition: 0, nextOffset: 4, replayFrom: 4, maxEventTime: T0, version: 7 }],
          [1, { partition: 1, nextOffset: 9, replayFrom: 9, maxEventTime: T0, version: 8 }],
        ]),
      );
      expect(await store.speedViews({ site: 'default', from: T0, to: T0 + MIN })).toEqual([{ bucket: T0, views: 5, overcountBound: 0 }]);
      expect(await store.speedVisitorSketches({ site: 'default', grain: 'minute', from: T0, to: T0 + MIN })).toEqual(['h']);
    });

    it('speed sessions: the latest sums per key, summed over partitions; open sessions restored as of a checkpoint, removed ones left out', async () => {
      const DAY = 86_400_000;
      const sums = (visits: number, bounces: number, durationMs: number, pageviews: number) => ({ visits, bounces, durationMs, pageviews });
      const open = { site: 'default', visitorId: "v'1", start: T0, end: T0 + 5 * MIN, pageviews: 2, entryPage: '/a', exitPage: '/b', lastEvent: 'e2', removed: false };
      await store.writeSpeedFlush(
        {
          pageMinutes: [],
          overflow: [],
          visitors: [],
          sessions: [
            { partition: 0, site: 'default', pageId: '', bucket: T0, ...sums(1, 1, 0, 1), version: 1 },
            { partition: 0, site: 'default|visit:entry_page', pageId: '/a', bucket: T0, ...sums(1, 1, 0, 1), version: 1 },
            { partition: 1, site: 'default', pageId: '', bucket: T0, ...sums(2, 1, 60_000, 3), version: 4 },
            { partition: 1, site: 'default', pageId: '', bucket: T0 + MIN, ...sums(1, 0, 1_000, 2), version: 4 },
          ],
          openSessions: [{ ...open, partition: 0, end: T0, pageviews: 1, exitPage: '/a', lastEvent: 'e1', version: 1 }],
        },
        [{ partition: 0, nextOffset: 1, replayFrom: 1, maxEventTime: T0, version: 1 }],
      );
      // Version 2 of partition 0: the session took a second page (no longer a bounce).
      await store.writeSpeedRows({
        pageMinutes: [],
        overflow: [],
        visitors: [],
        sessions: [
          { partition: 0, site: 'default', pageId: '', bucket: T0, ...sums(1, 0, 5 * MIN, 2), version: 2 },
          { partition: 0, site: 'default|visit:entry_page', pageId: '/a', bucket: T0, ...sums(1, 0, 5 * MIN, 2), version: 2 },
        ],
        openSessions: [
          { ...open, partition: 0, version: 2 },
          { ...open, partition: 0, visitorId: 'gone', removed: true, version: 2 },
        ],
      });
      expect(await store.speedSessions({ site: 'default', from: T0, to: T0 + HOUR })).toEqual([
        { bucket: T0, ...sums(3, 1, 5 * MIN + 60_000, 5) },
        { bucket: T0 + MIN, ...sums(1, 0, 1_000, 2) },
      ]);
      expect(await store.speedSessions({ site: 'default', from: T0 + MIN, to: T0 + HOUR })).toEqual([{ bucket: T0 + MIN, ...sums(1, 0, 1_000, 2) }]);
      expect(await store.speedSessions({ site: 'default|visit:entry_page', pageId: '/a', from: T0, to: T0 + HOUR })).toEqual([{ bucket: T0, ...sums(1, 0, 5 * MIN, 2) }]);
      expect(await store.speedSessionPages({ site: 'default|visit:entry_page', from: T0, to: T0 + HOUR })).toEqual([{ pageId: '/a', ...sums(1, 0, 5 * MIN, 2) }]);
      // As of checkpoint version 1: the first rows; as of 2: the second, and the removed session is not restored.
      const first = await store.speedPartitionState(0, 1, T0);
      expect(first.sessions).toContainEqual({ partition: 0, site: 'default', pageId: '', bucket: T0, ...sums(1, 1, 0, 1), version: 1 });
      expect(first.openSessions).toEqual([{ ...open, partition: 0, end: T0, pageviews: 1, exitPage: '/a', lastEvent: 'e1', version: 1 }]);
      const second = await store.speedPartitionState(0, 2, T0);
      expect(second.openSessions).toEqual([{ ...open, partition: 0, version: 2 }]);
      expect(second.sessions?.filter((r) => r.pageId === '')).toEqual([{ partition: 0, site: 'default', pageId: '', bucket: T0, ...sums(1, 0, 5 * MIN, 2), version: 2 }]);
      // What a serving layer reads after version 1 of partition 0: the newer sums.
      const since = await store.speedRowsSince([{ partition: 0, after: 1, through: 2 }]);
      expect(since.sessions?.map((r) => [r.site, r.version])).toEqual(expect.arrayContaining([['default', 2], ['default|visit:entry_page', 2]]));
      expect(since.sessions).toHaveLength(2);
      // The rows a late lane merges into: exactly the keys asked, as of a checkpoint version.
      const forKeys = await store.speedRowsFor(0, 1, { pageMinutes: [], visitors: [], sessions: [{ site: 'default|visit:entry_page', pageId: '/a', bucket: T0 }, { site: 'default', pageId: '/none', bucket: T0 }] });
      expect(forKeys.sessions).toEqual([{ partition: 0, site: 'default|visit:entry_page', pageId: '/a', bucket: T0, ...sums(1, 1, 0, 1), version: 1 }]);
      // Retention drops the sessions of whole days, open sessions by their last event.
      await store.writeSpeedRows({
        pageMinutes: [],
        overflow: [],
        visitors: [],
        sessions: [{ partition: 0, site: 'default', pageId: '', bucket: T0 - DAY, ...sums(1, 1, 0, 1), version: 3 }],
        openSessions: [{ ...open, partition: 0, visitorId: 'old', start: T0 - DAY, end: T0 - DAY, version: 3 }],
      });
      await store.dropSpeedBefore(T0);
      expect(await store.speedSessions({ site: 'default', from: T0 - DAY, to: T0 })).toEqual([]);
      expect((await store.speedPartitionState(0, 3, T0 - DAY)).openSessions?.map((r) => r.visitorId)).toEqual(["v'1"]);
    });

    it('a speed checkpoint keeps where a restart replays from', async () => {
      await store.writeSpeedCheckpoint({ partition: 3, nextOffset: 90, replayFrom: 40, maxEventTime: T0, version: 5 });
      expect((await store.speedCheckpoints()).get(3)).toEqual({ partition: 3, nextOffset: 90, replayFrom: 40, maxEventTime: T0, version: 5 });
    });

    it("a partition's late lane is read like any partition: its views add, its visitors unite; the partition's own reads leave it out", async () => {
      const base = { site: 'default', bucket: T0 };
      await store.writeSpeedRows({
        pageMinutes: [{ ...base, partition: 0, pageId: '/a', views: 3, version: 1 }, { ...base, partition: speedLateLane(0), pageId: '/a', views: 2, version: 1 }],
        overflow: [],
        visitors: [{ ...base, partition: 0, pageId: '', grain: 'minute', hll: 'own', version: 1 }, { ...base, partition: speedLateLane(0), pageId: '', grain: 'minute', hll: 'lane', version: 1 }],
      });
      expect(await store.speedViews({ site: 'default', from: T0, to: T0 + MIN })).toEqual([{ bucket: T0, views: 5, overcountBound: 0 }]);
      expect(await store.speedViews({ site: 'default', pageId: '/a', from: T0, to: T0 + MIN })).toEqual([{ bucket: T0, views: 5, overcountBound: 0 }]);
      expect((await store.speedVisitorSketches({ site: 'default', grain: 'minute', from: T0, to: T0 + MIN })).sort()).toEqual(['lane', 'own']);
      expect((await store.speedPartitionState(0, 1, T0)).pageMinutes.map((r) => r.views)).toEqual([3]);
      expect((await store.speedPartitionState(speedLateLane(0), 1, 0)).pageMinutes.map((r) => [r.partition, r.views])).toEqual([[speedLateLane(0), 2]]);
      const keys = { pageMinutes: [{ site: 'default', pageId: '/a', bucket: T0 }], visitors: [] };
      expect((await store.speedRowsFor(0, 1, keys)).pageMinutes.map((r) => r.views)).toEqual([3]);
    });

    it('speed rows since a version: the latest per key in each partition\'s range, its late lane included, every kind of row', async () => {
      const base = { site: 'default', bucket: T0 };
      const lane = speedLateLane(0);
      await store.writeSpeedRows({
        pageMinutes: [
          { ...base, partition: 0, pageId: '/a', views: 1, version: 1 },
          { ...base, partition: 0, pageId: '/a', views: 2, version: 2 },
          { ...base, partition: 0, pageId: '/a', views: 9, version: 4 }, // beyond the range
          { ...base, partition: 0, pageId: '/b', views: 5, version: 1 }, // not after the range's start
          { ...base, partition: lane, pageId: '/a', views: 3, version: 3 },
          { ...base, partition: 1, pageId: '/a', views: 7, version: 2 }, // a partition not asked
        ],
        overflow: [{ ...base, partition: 0, total: 2, cmsWidth: 2, cmsDepth: 1, cms: [2, 0], topPages: '[]', version: 3 }],
        visitors: [
          { ...base, partition: lane, pageId: '', grain: 'hour', hll: 'lane', version: 2 },
          { ...base, partition: 0, pageId: '/a', grain: 'minute', hll: 'old', version: 1 },
        ],
      });
      const rows = await store.speedRowsSince([{ partition: 0, after: 1, through: 3 }]);
      const sorted = <T extends { partition: number; version: number }>(r: T[]): T[] => [...r].sort((a, b) => a.partition - b.partition || a.version - b.version);
      expect(sorted(rows.pageMinutes)).toEqual([
        { ...base, partition: lane, pageId: '/a', views: 3, version: 3 },
        { ...base, partition: 0, pageId: '/a', views: 2, version: 2 },
      ]);
      expect(rows.overflow).toEqual([{ ...base, partition: 0, total: 2, cmsWidth: 2, cmsDepth: 1, cms: [2, 0], topPages: '[]', version: 3 }]);
      expect(rows.visitors).toEqual([{ ...base, partition: lane, pageId: '', grain: 'hour', hll: 'lane', version: 2 }]);
      const both = await store.speedRowsSince([{ partition: 0, after: 0, through: 1 }, { partition: 1, after: 0, through: 2 }]);
      expect(both.pageMinutes.map((r) => [r.partition, r.pageId, r.views]).sort()).toEqual([[0, '/a', 1], [0, '/b', 5], [1, '/a', 7]]);
      expect(await store.speedRowsSince([])).toEqual({ pageMinutes: [], overflow: [], visitors: [], sessions: [] });
    });

    it('speed rows for keys: the latest version at or below a checkpoint, of exactly the keys asked, whatever their text', async () => {
      const hostile = "/it's \\ a 'page'\n";
      const pages = ['/a', '/b', hostile, ...Array.from({ length: 3000 }, (_, i) => `/many/${i}/${'x'.repeat(20)}`)];
      const minute = (pageId: string, bucket: number, views: number, version: number) => ({ partition: 0, site: 'default', pageId, bucket, views, version });
      await store.writeSpeedRows({
        pageMinutes: [
          minute('/a', T0, 1, 1),
          minute('/a', T0, 5, 3), // not checkpointed: invisible to a read as of version 2
          minute('/a', T0 + MIN, 7, 1), // not asked for
          minute('/b', T0, 2, 2),
          minute(hostile, T0, 4, 1),
          { ...minute('/a', T0, 100, 1), partition: 1 }, // another partition
          ...pages.slice(3).map((p) => minute(p, T0, 1, 1)),
        ],
        overflow: [],
        visitors: [
          { partition: 0, site: 'default', pageId: '', grain: 'minute', bucket: T0, hll: 'm1', version: 1 },
          { partition: 0, site: 'default', pageId: '', grain: 'hour', bucket: T0, hll: 'h1', version: 2 },
          { partition: 0, site: 'default', pageId: hostile, grain: 'hour', bucket: T0, hll: 'p1', version: 1 },
        ],
      });
      const got = await store.speedRowsFor(0, 2, {
        pageMinutes: [...pages.map((pageId) => ({ site: 'default', pageId, bucket: T0 })), { site: 'default', pageId: '/absent', bucket: T0 }],
        visitors: [
          { site: 'default', pageId: '', grain: 'minute', bucket: T0 },
          { site: 'default', pageId: '', grain: 'hour', bucket: T0 },
          { site: 'default', pageId: hostile, grain: 'hour', bucket: T0 },
          { site: 'default', pageId: hostile, grain: 'minute', bucket: T0 },
        ],
      });
      const byPage = new Map(got.pageMinutes.map((r) => [r.pageId, [r.bucket, r.views, r.version]]));
      expect(byPage.size).toBe(pages.length);
      expect(byPage.get('/a')).toEqual([T0, 1, 1]);
      expect(byPage.get('/b')).toEqual([T0, 2, 2]);
      expect(byPage.get(hostile)).toEqual([T0, 4, 1]);
      expect(got.visitors.map((v) => [v.pageId, v.grain, v.hll]).sort()).toEqual([['', 'hour', 'h1'], ['', 'minute', 'm1'], [hostile, 'hour', 'p1']]);
    });

    it('speed retention drops whole UTC days before the day of an hour start, and records that hour', async () => {
      const DAY = 86_400_000;
      expect(await store.speedRetainedFrom()).toBeNull();
      const rows = (bucket: number) => ({
        pageMinutes: [{ partition: 0, site: 'default', pageId: '/a', bucket, views: 1, version: 1 }],
        overflow: [{ partition: 0, site: 'default', bucket, total: 1, cmsWidth: 1, cmsDepth: 1, cms: [1], topPages: '[]', version: 1 }],
        visitors: [{ partition: 0, site: 'default', pageId: '', grain: 'minute' as const, bucket, hll: 'h', version: 1 }],
      });
      await store.writeSpeedRows(rows(T0 - DAY + HOUR));
      await store.writeSpeedRows(rows(T0 + HOUR));
      await store.dropSpeedBefore(T0);
      expect(await store.speedRetainedFrom()).toBe(T0);
      expect(await store.speedViews({ site: 'default', from: T0 - DAY, to: T0 + DAY })).toEqual([
        { bucket: T0 + HOUR, views: 2, overcountBound: 0 },
      ]);
      expect(await store.speedVisitorSketches({ site: 'default', grain: 'minute', from: T0 - DAY, to: T0 + DAY })).toEqual(['h']);
      await expect(store.dropSpeedBefore(T0 + 1)).rejects.toThrow(/UTC hour/);
      // An hour of a later day (the first run: the speed layer never counted what is before its
      // boundary): the days before that day are deleted, its earlier hours are only marked.
      await store.writeSpeedRows(rows(T0 + DAY + HOUR));
      await store.dropSpeedBefore(T0 + DAY + 2 * HOUR);
      expect(await store.speedRetainedFrom()).toBe(T0 + DAY + 2 * HOUR);
      expect(await store.speedViews({ site: 'default', from: T0 - DAY, to: T0 + 2 * DAY })).toEqual([
        { bucket: T0 + DAY + HOUR, views: 2, overcountBound: 0 },
      ]);
    });

    it('raw copy keeps the visit fields of schema v2 beside v1 rows, absent fields absent', async () => {
      const v2 = raw(0, 1, {
        schemaVersion: 2,
        source: 'Google',
        utmMedium: 'cpc',
        utmSource: 'google',
        utmCampaign: "spring'\\sale",
        utmContent: 'banner',
        utmTerm: 'shoes',
        device: 'Mobile',
        browser: 'Chrome Mobile',
        browserVersion: '120.0',
        os: 'Android',
        osVersion: '14',
        country: 'DE',
      });
      const v1 = raw(0, 0);
      const partial = raw(0, 2, { schemaVersion: 2, device: 'Desktop' });
      await store.appendRawEvents([v1, v2, partial]);
      await store.appendRawEvents([v2]); // a copy twice reads once
      expect(await store.readRawEvents({ partition: 0, fromOffset: 0, limit: 10 })).toEqual([{ ...v1, schemaVersion: 1 }, v2, partial]);
      expect(await store.readRawEvents({ partition: 0, fromOffset: 1, limit: 1 })).toEqual([v2]);
      expect(await store.readRawEvents({ partition: 1, fromOffset: 0, limit: 10 })).toEqual([]);
    });

    it('visitor salts: the first stored salt of a day is every caller\'s; dropped days take a new one', async () => {
      const day = 20_000;
      expect(await store.visitorSalt(day, 'b'.repeat(64))).toBe('b'.repeat(64));
      expect(await store.visitorSalt(day, 'a'.repeat(64))).toBe('b'.repeat(64));
      expect(await store.visitorSalt(day + 1, 'c'.repeat(64))).toBe('c'.repeat(64));
      await store.dropVisitorSaltsBefore(day + 1);
      expect(await store.visitorSalt(day, 'd'.repeat(64))).toBe('d'.repeat(64));
      expect(await store.visitorSalt(day + 1, 'e'.repeat(64))).toBe('c'.repeat(64));
    });

    it('raw copy tracks the next offset per partition, past valid and invalid records', async () => {
      expect(await store.rawCopyEndOffsets()).toEqual(new Map());
      await store.appendRawEvents([raw(0, 0), raw(0, 1), raw(2, 10)]);
      await store.appendInvalidRecords([
        { partition: 0, offset: 2, reason: 'not valid JSON' },
        { partition: 3, offset: 0, reason: "eventId: must be a UUID '" },
      ]);
      expect(await store.rawCopyEndOffsets()).toEqual(new Map([[0, 3], [2, 11], [3, 1]]));
    });

    it('speed checkpoints: latest per partition, and rows restored as of a checkpoint version', async () => {
      expect(await store.speedCheckpoints()).toEqual(new Map());
      const row = { partition: 0, site: 'default', pageId: '/a', bucket: T0 };
      const sort = (rows: { pageId: string; bucket: number }[]): unknown[] =>
        [...rows].sort((a, b) => a.pageId.localeCompare(b.pageId) || a.bucket - b.bucket);
      await writeMinutes(store, [
        { ...row, views: 2, version: 1 },
        { ...row, pageId: '/b', views: 1, version: 1 },
        { ...row, bucket: T0 - HOUR, views: 9, version: 1 },
        { ...row, partition: 1, views: 4, version: 1 },
      ]);
      await store.writeSpeedCheckpoint({ partition: 0, nextOffset: 10, replayFrom: 10, maxEventTime: T0, version: 1 });
      await store.writeSpeedCheckpoint({ partition: 1, nextOffset: 3, replayFrom: 3, maxEventTime: T0, version: 1 });
      // Version 2 rows are written, but the process dies before their checkpoint.
      await writeMinutes(store, [{ ...row, views: 5, version: 2 }]);
      expect(sort(await store.speedPartitionRows(0, 1, T0))).toEqual([
        { ...row, views: 2, version: 1 },
        { ...row, pageId: '/b', views: 1, version: 1 },
      ]);
      await store.writeSpeedCheckpoint({ partition: 0, nextOffset: 20, replayFrom: 20, maxEventTime: T0 + MIN, version: 2 });
      expect(await store.speedCheckpoints()).toEqual(
        new Map([
          [0, { partition: 0, nextOffset: 20, replayFrom: 20, maxEventTime: T0 + MIN, version: 2 }],
          [1, { partition: 1, nextOffset: 3, replayFrom: 3, maxEventTime: T0, version: 1 }],
        ]),
      );
      expect(sort(await store.speedPartitionRows(0, 2, T0 - HOUR))).toEqual([
        { ...row, bucket: T0 - HOUR, views: 9, version: 1 },
        { ...row, views: 5, version: 2 },
        { ...row, pageId: '/b', views: 1, version: 1 },
      ]);
      expect(await store.speedViews({ site: 'default', pageId: '/a', from: T0, to: T0 + MIN })).toEqual([{ bucket: T0, views: 9, overcountBound: 0 }]);
    });

    it('batch views dedupe by eventId, respect the cutoff time and offsets, and count late events in their bucket', async () => {
      const dup = randomUUID();
      await store.appendRawEvents([
        raw(0, 0, { eventTime: T0 + 5 * MIN }),
        raw(0, 1, { eventTime: T0 + 10 * MIN, eventId: dup }),
        raw(1, 0, { eventTime: T0 + 10 * MIN, eventId: dup }), // redelivered duplicate
        raw(1, 1, { eventTime: T0 + HOUR + 1 }),
        raw(1, 2, { eventTime: T0 + 2 * HOUR }), // at the cutoff: excluded (exclusive)
        raw(0, 2, { eventTime: T0 + 30 * MIN }), // late: appended after newer events
        raw(0, 3, { eventTime: T0 + MIN }), // beyond the cutoff offset: excluded
        raw(1, 3, { eventTime: T0 + MIN, pageId: '/b' }),
      ]);
      const cutoff = { cutoffTime: T0 + 2 * HOUR, endOffsets: new Map([[0, 3], [1, 4]]) };
      const stats = await store.buildBatchViews('run-1', cutoff);
      expect(stats).toEqual({ rowsCounted: 5, rowsDuplicate: 1 });
      // Not published yet.
      expect(await store.latestBoundary()).toBeNull();
      expect(await store.batchViews('run-1', { site: 'default', pageId: '/a', from: T0, to: T0 + 3 * HOUR })).toEqual([
        { bucket: T0, views: 3 },
        { bucket: T0 + HOUR, views: 1 },
      ]);
      expect(await store.batchViews('run-1', { site: 'default', from: T0, to: T0 + 3 * HOUR })).toEqual([
        { bucket: T0, views: 4 },
        { bucket: T0 + HOUR, views: 1 },
      ]);
      // Rebuilding the same input under a new id gives identical views.
      await store.buildBatchViews('run-2', cutoff);
      expect(await store.batchViews('run-2', { site: 'default', from: T0, to: T0 + 3 * HOUR })).toEqual(
        await store.batchViews('run-1', { site: 'default', from: T0, to: T0 + 3 * HOUR }),
      );
    });

    it('batch views also hold page-days, site totals and exact visitors per day, all within the cutoff', async () => {
      const DAY = 86_400_000;
      const ev = (partition: number, offset: number, eventTime: number, pageId: string, visitorId: string, hllIndex: number, hllRank: number) =>
        raw(partition, offset, { eventTime, pageId, visitorId, visitorHllIndex: hllIndex, visitorHllRank: hllRank });
      const dup = randomUUID();
      await store.appendRawEvents([
        ev(0, 0, T0 + HOUR, '/a', 'ann', 7, 2),
        ev(0, 1, T0 + 2 * HOUR, '/a', 'ann', 7, 2),
        ev(0, 2, T0 + 3 * HOUR, '/b', 'bob', 9, 5),
        { ...ev(0, 3, T0 + 3 * HOUR, '/b', 'cat', 7, 4), eventId: dup },
        { ...ev(1, 0, T0 + 3 * HOUR, '/b', 'cat', 7, 4), eventId: dup },
        ev(1, 1, T0 + DAY + HOUR, '/a', 'bob', 9, 5),
        ev(1, 2, T0 + 2 * DAY + HOUR, '/a', 'dan', 1, 1), // after the cutoff
      ]);
      await store.buildBatchViews('v', { cutoffTime: T0 + 2 * DAY, endOffsets: new Map([[0, 4], [1, 3]]) });
      const two = { site: 'default', from: T0, to: T0 + 2 * DAY };
      expect(await store.batchViews('v', { ...two, pageId: '/a' }, 'day')).toEqual([
        { bucket: T0, views: 2 },
        { bucket: T0 + DAY, views: 1 },
      ]);
      expect(await store.batchViews('v', two, 'day')).toEqual([
        { bucket: T0, views: 4 },
        { bucket: T0 + DAY, views: 1 },
      ]);
      expect(await store.batchViews('v', two, 'hour')).toEqual([
        { bucket: T0 + HOUR, views: 1 },
        { bucket: T0 + 2 * HOUR, views: 1 },
        { bucket: T0 + 3 * HOUR, views: 2 },
        { bucket: T0 + DAY + HOUR, views: 1 },
      ]);
      // Exact distinct visitors: a union over days, not a sum.
      expect(await store.batchVisitors('v', two)).toBe(3); // ann, bob, cat
      expect(await store.batchVisitors('v', { ...two, pageId: '/a' })).toBe(2); // ann, bob
      expect(await store.batchVisitorsByDay('v', two)).toEqual([
        { bucket: T0, visitors: 3 },
        { bucket: T0 + DAY, visitors: 1 },
      ]);
      expect(await store.batchVisitorRegisters('v', two)).toEqual(new Map([[7, 4], [9, 5]]));
      // Every table keeps only the published version after a drop.
      await store.buildBatchViews('w', { cutoffTime: T0 + 2 * DAY, endOffsets: new Map([[0, 4], [1, 3]]) });
      await store.dropBatchVersionsExcept(['w']);
      expect(await store.batchViews('v', two, 'day')).toEqual([]);
      expect(await store.batchVisitors('v', two)).toBe(0);
      expect(await store.batchVisitors('w', two)).toBe(3);
    });

    it('batch sessions match an independent sessionizer: gaps at 30 minutes ± 1 ms, midnight, the cutoff, duplicates, in several passes', async () => {
      const DAY = 86_400_000;
      const GAPS = [MIN, 30 * MIN - 1, 30 * MIN, 30 * MIN + 1, 2 * HOUR, 7 * MIN];
      const PAGES = ['/', '/a', '/b', "/it's"];
      let state = 17;
      const next = (n: number): number => {
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
        return state % n;
      };
      const rows: RawEventRow[] = [];
      const offsets = [0, 0];
      const push = (row: Omit<RawEventRow, 'partition' | 'offset'>): void => {
        const partition = next(2);
        rows.push({ ...row, partition, offset: offsets[partition]!++ });
      };
      for (let v = 0; v < 12; v++) {
        const site = v % 3 === 0 ? 'b.example' : 'default';
        // Start late on the day before the cutoff's day, so sessions cross midnight and the cutoff.
        let t = T0 + DAY - 3 * HOUR + next(4) * HOUR;
        for (let k = 0; k < 14; k++) {
          t += GAPS[next(GAPS.length)]!;
          const row = { eventId: randomUUID(), site, pageId: PAGES[next(PAGES.length)]!, visitorId: `visitor-${v}`, visitorHllIndex: v, visitorHllRank: 1, eventTime: t, referrer: '', userAgent: '' };
          push(row);
          if (next(5) === 0) push(row); // a redelivery: the same event id
        }
      }
      // Late arrivals are in the log order already (partitions are shuffled); the batch reads them all at once.
      await store.appendRawEvents(rows);
      const cutoffTime = T0 + DAY + 2 * HOUR;
      // Passes of at most 7 events: several event-id passes and several visitor passes.
      store.batchEventsPerPass = 7;
      await store.buildBatchViews('s', { cutoffTime, endOffsets: new Map([[0, offsets[0]!], [1, offsets[1]!]]) });
      const sessions = truthSessions(rows.map((r) => ({ eventId: r.eventId, site: r.site, visitorId: r.visitorId, pageId: r.pageId, timestamp: r.eventTime })));
      // Sessions starting before the cutoff count whole (their events after it included); later ones are the speed layer's.
      const counted = sessions.filter((x) => x.start < cutoffTime);
      expect(counted.some((x) => x.end >= cutoffTime)).toBe(true);
      expect(counted.some((x) => Math.floor(x.start / DAY) !== Math.floor(x.end / DAY))).toBe(true);
      expect(sessions.length).toBeGreaterThan(counted.length);
      const range = { from: T0, to: T0 + 3 * DAY };
      for (const site of ['default', 'b.example']) {
        for (const grain of ['hour', 'day'] as const) {
          const width = grain === 'hour' ? HOUR : DAY;
          const want = new Map<number, ReturnType<typeof truthTotals>>();
          for (const x of counted.filter((c) => c.site === site)) {
            const bucket = Math.floor(x.start / width) * width;
            want.set(bucket, truthTotals(counted, { site, from: bucket, to: bucket + width }));
          }
          const got = await store.batchSessions('s', { site, ...range }, grain);
          expect(new Map(got.map(({ bucket, ...totals }) => [bucket, totals])), `${site} by ${grain}`).toEqual(want);
        }
        for (const [property, key] of [['visit:entry_page', 'entryPage'], ['visit:exit_page', 'exitPage']] as const) {
          const want = new Map(PAGES.map((page) => [page, truthTotals(counted, { site, [key]: page })] as const).filter(([, t]) => t.visits > 0));
          const got = await store.batchSessionPages('s', { site: `${site}|${property}`, ...range });
          expect(new Map(got.map(({ pageId, ...totals }) => [pageId, totals])), `${site} ${property}`).toEqual(want);
          const page = PAGES[1]!;
          const byDay = await store.batchSessions('s', { site: `${site}|${property}`, pageId: page, ...range }, 'day');
          expect(byDay.reduce((a, b) => a + b.visits, 0)).toBe(truthTotals(counted, { site, [key]: page }).visits);
        }
      }
      // The staging tables are left empty.
      await store.dropBatchVersionsExcept(['s']);
      expect((await store.batchSessions('s', { site: 'default', ...range }, 'day')).length).toBeGreaterThan(0);
    });

    it('a build in many passes (dedup by event id, visitors and sessions by visitor) writes the views of a build in one pass', async () => {
      const DAY = 86_400_000;
      let state = 29;
      const next = (n: number): number => {
        // xorshift32: exact in 32-bit integers.
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        return (state >>> 0) % n;
      };
      const rows: RawEventRow[] = [];
      const offsets = [0, 0, 0];
      for (let i = 0; i < 400; i++) {
        const partition = next(3);
        const visitor = next(40);
        const row: RawEventRow = {
          partition,
          offset: offsets[partition]!++,
          eventId: randomUUID(),
          site: visitor % 4 === 0 ? 'b.example' : 'default',
          pageId: ['/', '/a', '/b', "/it's"][next(4)]!,
          visitorId: `visitor-${visitor}`,
          visitorHllIndex: visitor * 7,
          visitorHllRank: 1 + (visitor % 5),
          eventTime: T0 + next(3 * 24) * HOUR + next(60) * MIN,
          referrer: ['', 'https://www.google.com/', 'https://news.example/x'][next(3)]!,
          userAgent: '',
          schemaVersion: 2,
          source: ['', 'Google', 'Newsletter'][next(3)]!,
          device: visitor % 2 === 0 ? 'Desktop' : 'Mobile',
          country: ['DE', 'FR', ''][next(3)]!,
        };
        rows.push(row);
        if (next(6) === 0) rows.push({ ...row, partition, offset: offsets[partition]!++ }); // a redelivery
      }
      await store.appendRawEvents(rows);
      const cutoff = { cutoffTime: T0 + 2 * DAY + 5 * HOUR, endOffsets: new Map(offsets.map((end, partition) => [partition, end] as const)) };
      const one = await store.buildBatchViews('one', cutoff);
      store.batchEventsPerPass = 37; // about 13 passes of each kind
      const many = await store.buildBatchViews('many', cutoff);
      expect(many).toEqual(one);
      expect(one.rowsDuplicate).toBeGreaterThan(0);
      const range = { from: T0, to: T0 + 3 * DAY };
      type SiteViews = { pages: unknown[]; pageVisitors: unknown[][]; [view: string]: unknown };
      const read = async (batchId: string): Promise<Record<string, SiteViews>> => {
        const out: Record<string, SiteViews> = {};
        const sites = await store.batchSites(batchId, range.from, range.to);
        expect(sites.sort()).toEqual(['b.example', 'default']);
        for (const site of sites.flatMap((s) => [s, ...DIMENSION_PROPERTIES.map((p) => `${s}${DIMENSION_SEPARATOR}${p.name}`)])) {
          const q = { site, ...range };
          // Sorted: the readers' order among equal totals is not part of the contract.
          const byPage = <T extends { pageId: string }>(list: T[]): T[] => list.sort((a, b) => (a.pageId < b.pageId ? -1 : a.pageId > b.pageId ? 1 : 0));
          const pageTotals = byPage(await store.batchPageTotals(batchId, q));
          const pages = pageTotals.map((p) => p.pageId);
          out[site] = {
            hours: await store.batchViews(batchId, q, 'hour'),
            days: await store.batchViews(batchId, q, 'day'),
            pages: pageTotals,
            visitors: await store.batchVisitors(batchId, q),
            visitorsByDay: await store.batchVisitorsByDay(batchId, q),
            registers: [...(await store.batchVisitorRegisters(batchId, q))].sort((a, b) => a[0] - b[0]),
            pageVisitors: await Promise.all(pages.map((pageId) => store.batchVisitorsByDay(batchId, { ...q, pageId }))),
            sessions: await store.batchSessions(batchId, q, 'hour'),
            sessionPages: byPage(await store.batchSessionPages(batchId, q)),
          };
        }
        return out;
      };
      const views = await read('one');
      // The dimension views hold each value's page views and visitors ('Direct / None', Google, Newsletter).
      expect(views['default|visit:source']?.pages).toHaveLength(3);
      expect(views['default|visit:source']?.pageVisitors.every((days) => days.length > 0)).toBe(true);
      expect(await read('many')).toEqual(views);
    });

    it('truncateRawCopy empties the raw copy so a full rebuild starts from the first offset', async () => {
      await store.appendRawEvents([raw(0, 0), raw(0, 1)]);
      await store.appendInvalidRecords([{ partition: 1, offset: 0, reason: 'x' }]);
      await store.truncateRawCopy();
      expect(await store.rawCopyEndOffsets()).toEqual(new Map());
    });

    it('a success record publishes the boundary; history shows each run in its latest state', async () => {
      const base = {
        cutoffTime: T0,
        endOffsets: { '0': 3 },
        rowsRead: 3,
        rowsInvalid: 1,
        rowsDuplicate: 0,
        rowsCounted: 2,
        error: null,
      };
      await store.recordBatchRun({ ...base, batchId: 'b1', status: 'running', startedAt: 1000, finishedAt: null });
      expect(await store.latestBoundary()).toBeNull();
      await store.recordBatchRun({ ...base, batchId: 'b1', status: 'success', startedAt: 1000, finishedAt: 2000 });
      await store.recordBatchRun({ ...base, batchId: 'b2', status: 'running', startedAt: 3000, finishedAt: null, cutoffTime: T0 + HOUR });
      await store.recordBatchRun({
        ...base,
        batchId: 'b2',
        status: 'failed',
        startedAt: 3000,
        finishedAt: 4000,
        cutoffTime: T0 + HOUR,
        error: "boom 'quoted'",
      });
      expect(await store.latestBoundary()).toEqual({ batchId: 'b1', cutoffTime: T0, endOffsets: { '0': 3 }, publishedAt: 2000 });
      const runs = await store.batchRuns(10);
      expect(runs.map((r) => [r.batchId, r.status, r.error])).toEqual([
        ['b2', 'failed', "boom 'quoted'"],
        ['b1', 'success', null],
      ]);
      expect(runs[1]).toMatchObject({ rowsRead: 3, rowsInvalid: 1, rowsCounted: 2, finishedAt: 2000 });
    });

    it('dropBatchVersionsExcept keeps only the published version', async () => {
      await store.appendRawEvents([raw(0, 0, { eventTime: T0 })]);
      const cutoff = { cutoffTime: T0 + HOUR, endOffsets: new Map([[0, 1]]) };
      await store.buildBatchViews('old', cutoff);
      await store.buildBatchViews('new', cutoff);
      await store.dropBatchVersionsExcept(['new']);
      const q = { site: 'default', from: T0, to: T0 + HOUR };
      expect(await store.batchViews('old', q)).toEqual([]);
      expect(await store.batchViews('new', q)).toEqual([{ bucket: T0, views: 1 }]);
    });

    it('hostile strings are stored and matched exactly, never executed', async () => {
      const hostile = [
        "/'; DROP TABLE raw_events; --",
        '/\\\'\\"`',
        '/\\',
        '/日本語/ページ?q=ü&x=😀',
        "/a' OR '1'='1",
        '/`backquote`',
      ];
      await store.appendRawEvents(hostile.map((pageId, i) => raw(0, i, { pageId, site: "s'ite\\" })));
      await store.buildBatchViews('h', { cutoffTime: T0 + HOUR, endOffsets: new Map([[0, hostile.length]]) });
      for (const pageId of hostile) {
        expect(await store.batchViews('h', { site: "s'ite\\", pageId, from: T0, to: T0 + HOUR })).toEqual([
          { bucket: T0, views: 1 },
        ]);
      }
      expect(await store.batchViews('h', { site: "s'ite\\", pageId: "/a' OR '1'='1' --", from: T0, to: T0 + HOUR })).toEqual([]);
      expect(await store.rawCopyEndOffsets()).toEqual(new Map([[0, hostile.length]]));
    });
  });
}
