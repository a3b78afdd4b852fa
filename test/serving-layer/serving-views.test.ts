/**
 * The serving process's views (ServingViews: SpeedViewMirror and ResidentBatchViews) against an
 * independent ground truth: the view store's own SQL reads over the same rows. Whatever the
 * flushes (partitions, late lanes, replaced versions, overflow sketches, visitor sketches), once
 * the views have refreshed, every speed read answers what the store answers. Then the edges:
 * checkpoints bound what is applied, retention, staleness, and the batch blocks' budget.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  speedLaneOwner,
  speedLateLane,
  type PageTotal,
  type RawEventRow,
  type SpeedBucketViews,
  type SpeedCheckpoint,
  type SpeedRows,
  type ViewReader,
  type ViewStore,
} from '../../shared/adapters/view-store/index.ts';
import { BucketRollup } from '../../shared/core/query/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { ServingViews, type ServingViewsOptions } from '../../serving-layer/index.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 4, 1);
const PAGES = ['/a', '/b', '/c'];
const PARTITIONS = [0, 1, 2];

let backends: TestBackends;
let store: ViewStore;
let version = 0;
let siteSeq = 0;

beforeAll(async () => {
  backends = await embeddedBackends();
  store = backends.store;
  await store.migrate();
});
afterAll(async () => {
  await backends?.cleanup();
});

const options = (over: Partial<ServingViewsOptions> = {}): ServingViewsOptions => ({
  refreshIntervalMs: 3_600_000,
  maxStalenessMs: 3_600_000,
  memoryBudgetBytes: 64 * 1024 * 1024,
  cacheBudgetBytes: 16 * 1024 * 1024,
  logger: silentLogger,
  ...over,
});

/** A flush as the speed layer writes it: rows at one new version, then a checkpoint of each partition they belong to. */
async function flush(rows: SpeedRows, partitions: Iterable<number>): Promise<void> {
  const checkpoints: SpeedCheckpoint[] = [...new Set(partitions)].map((partition) => ({ partition, nextOffset: 0, replayFrom: 0, maxEventTime: 0, version }));
  await store.writeSpeedFlush(rows, checkpoints);
}

const byBucket = (a: { bucket: number }, b: { bucket: number }): number => a.bucket - b.bucket;
const byPage = (a: PageTotal, b: PageTotal): number => (a.pageId < b.pageId ? -1 : a.pageId > b.pageId ? 1 : 0);

function hourly(rows: readonly SpeedBucketViews[]): SpeedBucketViews[] {
  const rollup = new BucketRollup('hour');
  for (const r of rows) rollup.add(r.bucket, r.views, r.overcountBound);
  return rollup.entries().filter((b) => b.views > 0 || b.overcountBound > 0);
}

/** Every speed read of `site` over the window, from the views and from the store. */
async function expectSameSpeedReads(views: ViewReader, site: string): Promise<void> {
  const ranges = [
    { from: T0, to: T0 + 3 * HOUR },
    { from: T0 + HOUR, to: T0 + 2 * HOUR },
    { from: T0 + 17 * MIN, to: T0 + 131 * MIN },
  ];
  for (const range of ranges) {
    for (const pageId of [undefined, ...PAGES, '/never']) {
      const q = { site, ...range, ...(pageId === undefined ? {} : { pageId }) };
      const sql = await store.speedViews(q);
      expect((await views.speedViews(q)).sort(byBucket), JSON.stringify(q)).toEqual(sql.sort(byBucket));
      if (range.from % HOUR === 0 && range.to % HOUR === 0) expect(await views.speedViews(q, 'hour'), `hourly ${JSON.stringify(q)}`).toEqual(hourly(sql));
      for (const grain of ['minute', 'hour'] as const) {
        const vq = { ...q, grain };
        expect((await views.speedVisitorSketches(vq)).sort()).toEqual((await store.speedVisitorSketches(vq)).sort());
        const grouped = (rows: { bucket: number; sketches: string[] }[]) => rows.map((r) => ({ bucket: r.bucket, sketches: [...r.sketches].sort() }));
        expect(grouped(await views.speedVisitorSketchesByBucket(vq))).toEqual(grouped(await store.speedVisitorSketchesByBucket(vq)));
      }
    }
    const q = { site, ...range };
    expect((await views.speedPageTotals(q)).sort(byPage)).toEqual((await store.speedPageTotals(q)).sort(byPage));
    expect((await views.speedTopPageSummaries(q)).sort()).toEqual((await store.speedTopPageSummaries(q)).sort());
  }
}

const logPartition = fc.oneof(fc.constantFrom(...PARTITIONS), fc.constantFrom(...PARTITIONS.map(speedLateLane)));
const minute = fc.integer({ min: 0, max: 179 });
const flushArb = fc.record({
  pageMinutes: fc.array(fc.record({ partition: logPartition, page: fc.constantFrom(...PAGES), minute, views: fc.integer({ min: 0, max: 20 }) }), { maxLength: 12 }),
  overflow: fc.array(
    fc.record({ partition: fc.constantFrom(...PARTITIONS), minute, cells: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 12, maxLength: 12 }), top: fc.constantFrom('/x', '/y') }),
    { maxLength: 2 },
  ),
  visitors: fc.array(
    fc.record({ partition: logPartition, page: fc.constantFrom('', ...PAGES), grain: fc.constantFrom('minute' as const, 'hour' as const), minute, tag: fc.integer({ min: 0, max: 99 }) }),
    { maxLength: 6 },
  ),
  refresh: fc.boolean(),
});

describe('ServingViews: the speed views in memory answer what the store answers', () => {
  it('after any sequence of flushes (partitions, late lanes, replaced rows, overflow, sketches), every speed read agrees', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(flushArb, { minLength: 1, maxLength: 6 }), async (flushes) => {
        const site = `s${++siteSeq}`;
        const views = new ServingViews(store, options());
        await views.start();
        try {
          for (const f of flushes) {
            version += 1;
            // One row per key per flush, as a flush writes: the last generated wins.
            const minutes = new Map<string, SpeedRows['pageMinutes'][number]>();
            for (const r of f.pageMinutes) minutes.set(`${r.partition}|${r.page}|${r.minute}`, { partition: r.partition, site, pageId: r.page, bucket: T0 + r.minute * MIN, views: r.views, version });
            const overflow = new Map<string, SpeedRows['overflow'][number]>();
            for (const o of f.overflow) {
              // The shape follows the minute (a key never changes shape): 4 × 3 or 6 × 2.
              const [width, depth] = o.minute % 2 === 0 ? [4, 3] : [6, 2];
              const total = o.cells.slice(0, width).reduce((a, b) => a + b, 0);
              const top = JSON.stringify({ version: 1, capacity: 4, totalCount: total, items: [[o.top, total, 0]] });
              overflow.set(`${o.partition}|${o.minute}`, { partition: o.partition, site, bucket: T0 + o.minute * MIN, total, cmsWidth: width, cmsDepth: depth, cms: o.cells, topPages: top, version });
            }
            const sketches = new Map<string, SpeedRows['visitors'][number]>();
            for (const v of f.visitors) {
              const bucket = v.grain === 'hour' ? T0 + Math.floor(v.minute / 60) * HOUR : T0 + v.minute * MIN;
              sketches.set(`${v.partition}|${v.page}|${v.grain}|${bucket}`, { partition: v.partition, site, pageId: v.page, grain: v.grain, bucket, hll: `h${v.tag}v${version}`, version });
            }
            const rows = { pageMinutes: [...minutes.values()], overflow: [...overflow.values()], visitors: [...sketches.values()] };
            await flush(rows, [...rows.pageMinutes, ...rows.overflow, ...rows.visitors].map((r) => speedLaneOwner(r.partition)));
            if (f.refresh) {
              await views.refresh();
              await expectSameSpeedReads(views, site);
            }
          }
          await views.refresh();
          await expectSameSpeedReads(views, site);
        } finally {
          views.stop();
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('applies only what checkpoints cover: rows written after the last checkpoint wait for the next one', async () => {
    const site = `s${++siteSeq}`;
    const views = new ServingViews(store, options());
    await views.start();
    try {
      version += 1;
      await flush({ pageMinutes: [{ partition: 0, site, pageId: '/a', bucket: T0, views: 3, version }], overflow: [], visitors: [] }, [0]);
      // Rows of a flush whose checkpoint is not written yet (a speed layer between its inserts).
      version += 1;
      await store.writeSpeedRows({ pageMinutes: [{ partition: 0, site, pageId: '/a', bucket: T0, views: 5, version }], overflow: [], visitors: [] });
      await views.refresh();
      const q = { site, pageId: '/a', from: T0, to: T0 + MIN };
      expect(await views.speedViews(q)).toEqual([{ bucket: T0, views: 3, overcountBound: 0 }]);
      const before = views.version;
      await store.writeSpeedCheckpoint({ partition: 0, nextOffset: 0, replayFrom: 0, maxEventTime: 0, version });
      await views.refresh();
      expect(await views.speedViews(q)).toEqual([{ bucket: T0, views: 5, overcountBound: 0 }]);
      expect(views.version).not.toBe(before);
    } finally {
      views.stop();
    }
  });

  it('two views over the same store at the same versions hold the same version and answer alike; retention drops whole days', async () => {
    const site = `s${++siteSeq}`;
    const early = new ServingViews(store, options());
    await early.start();
    try {
      version += 1;
      await flush(
        {
          pageMinutes: [
            { partition: 1, site, pageId: '/a', bucket: T0 - DAY + 5 * MIN, views: 2, version },
            { partition: 1, site, pageId: '/a', bucket: T0 + 5 * MIN, views: 4, version },
          ],
          overflow: [],
          visitors: [{ partition: 1, site, pageId: '', grain: 'hour', bucket: T0 - DAY, hll: 'old', version }],
        },
        [1],
      );
      await early.refresh();
      const late = new ServingViews(store, options());
      await late.start();
      expect(late.version).toBe(early.version);
      const all = { site, from: T0 - DAY, to: T0 + DAY };
      expect(await late.speedViews(all)).toEqual(await early.speedViews(all));
      await store.dropSpeedBefore(T0);
      await Promise.all([early.refresh(), late.refresh()]);
      expect(late.version).toBe(early.version);
      expect(await early.speedViews(all)).toEqual([{ bucket: T0 + 5 * MIN, views: 4, overcountBound: 0 }]);
      expect(await early.speedVisitorSketches({ ...all, grain: 'hour' })).toEqual([]);
      expect(await early.speedRetainedFrom()).toBe(T0);
      late.stop();
    } finally {
      early.stop();
    }
  });

  it('a flush handed over in the same process is applied without reading the store when it continues the versions held; otherwise it refreshes', async () => {
    const site = `s${++siteSeq}`;
    const reads: string[] = [];
    const counted = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          reads.push(String(property));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as ViewStore;
    const views = new ServingViews(counted, options());
    await views.start();
    try {
      const held = (await counted.speedCheckpoints()).get(0)?.version ?? 0;
      version += 1;
      const rows = { pageMinutes: [{ partition: 0, site, pageId: '/a', bucket: T0, views: 4, version }], overflow: [], visitors: [] };
      const checkpoint = { partition: 0, nextOffset: 0, replayFrom: 0, maxEventTime: 0, version };
      await store.writeSpeedFlush(rows, [checkpoint]);
      reads.length = 0;
      views.handOff({ rows, checkpoints: [checkpoint], previousVersions: new Map([[0, held]]) });
      expect(reads).toEqual([]);
      const q = { site, pageId: '/a', from: T0, to: T0 + MIN };
      expect(await views.speedViews(q)).toEqual(await store.speedViews(q));
      const handedVersion = views.version;
      await views.refresh();
      expect(views.version).toBe(handedVersion); // the store holds what was handed over
      // A flush that does not continue what is held (one was missed): the store is read instead.
      version += 1;
      const missed = { pageMinutes: [{ partition: 0, site, pageId: '/a', bucket: T0, views: 6, version }], overflow: [], visitors: [] };
      await store.writeSpeedFlush(missed, [{ ...checkpoint, version }]);
      version += 1;
      const next = { pageMinutes: [{ partition: 0, site, pageId: '/b', bucket: T0, views: 1, version }], overflow: [], visitors: [] };
      await store.writeSpeedFlush(next, [{ ...checkpoint, version }]);
      reads.length = 0;
      views.handOff({ rows: next, checkpoints: [{ ...checkpoint, version }], previousVersions: new Map([[0, version - 1]]) });
      await views.refresh();
      expect(reads).toContain('speedRowsSince');
      expect(await views.speedViews(q)).toEqual([{ bucket: T0, views: 6, overcountBound: 0 }]);
      expect(await views.speedViews({ ...q, pageId: '/b' })).toEqual([{ bucket: T0, views: 1, overcountBound: 0 }]);
      // Not written as one (null): a refresh too.
      reads.length = 0;
      views.handOff(null);
      await views.refresh();
      expect(reads).toContain('speedCheckpoints');
    } finally {
      views.stop();
    }
  });

  it('behind until the first refresh succeeds and again once the last one is too old: reads then go to the store, ping says not ready', async () => {
    let clock = 1_000_000;
    let failing = true;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'speedCheckpoints') return () => (failing ? Promise.reject(new Error('store down')) : (value as () => Promise<unknown>).call(target));
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as ViewStore;
    const views = new ServingViews(flaky, options({ maxStalenessMs: 5000, now: () => clock }));
    await views.start();
    try {
      expect(views.behind).toBe(true);
      expect(await views.ping()).toBe(false);
      failing = false;
      await views.refresh();
      expect(views.behind).toBe(false);
      expect(await views.ping()).toBe(true);
      failing = true;
      await expect(views.refresh()).rejects.toThrow('store down');
      clock += 5000;
      expect(views.behind).toBe(false); // at the limit: still current
      clock += 1;
      expect(views.behind).toBe(true);
      expect(await views.ping()).toBe(false);
    } finally {
      views.stop();
    }
  });
});

describe('ServingViews: batch views held per page', () => {
  const CUTOFF = Date.UTC(2026, 5, 10, 13);

  it('answer what the store answers, within the budget: least recently used pages leave, reads beyond it still answer from the store', async () => {
    const site = `b${++siteSeq}`;
    // 40 pages × 61 days before the cutoff (13:00): 1 to 3 events a day at varying hours, the cutoff's own day included.
    const rows: RawEventRow[] = [];
    for (let p = 0; p < 40; p++) {
      for (let d = 0; d <= 60; d++) {
        for (let n = 0; n < 1 + ((p * d) % 3); n++) {
          const eventTime = CUTOFF - 13 * HOUR - d * DAY + (((p + d + n * 5) % 24) * HOUR) + n * MIN;
          if (eventTime >= CUTOFF) continue;
          rows.push({ partition: 0, offset: rows.length, eventId: `${site}-${rows.length}`, site, pageId: `/p${p}`, visitorId: `v${(p + n) % 7}`, visitorHllIndex: (p * 31 + n) % 16_384, visitorHllRank: 1 + (n % 5), eventTime, referrer: '', userAgent: '' });
        }
      }
    }
    await store.appendRawEvents(rows);
    await store.buildBatchViews(`${site}-run`, { cutoffTime: CUTOFF, endOffsets: new Map([[0, rows.length]]) });
    await store.recordBatchRun({
      batchId: `${site}-run`, status: 'success', startedAt: CUTOFF, finishedAt: CUTOFF + 1, cutoffTime: CUTOFF, endOffsets: { '0': rows.length },
      rowsRead: rows.length, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: rows.length, error: null,
    });
    // The budget holds the speed views (written by the tests above) and 6,000 bytes of blocks: a few pages' worth.
    const probe = new ServingViews(store, options());
    await probe.start();
    probe.stop();
    const budget = probe.memory.speed + 6_000;
    const small = new ServingViews(store, options({ memoryBudgetBytes: budget }));
    await small.start();
    try {
      const boundary = await small.latestBoundary();
      expect(boundary?.batchId).toBe(`${site}-run`);
      const batchId = boundary!.batchId;
      for (let round = 0; round < 2; round++) {
        for (let p = 0; p < 40; p += 7) {
          const pageId = `/p${p}`;
          for (const [grain, from] of [['day', CUTOFF - 60 * DAY], ['hour', CUTOFF - 3 * DAY], ['hour', CUTOFF - 30 * DAY]] as const) {
            const q = { site, pageId, from, to: CUTOFF };
            expect(await small.batchViews(batchId, q, grain), `${pageId} ${grain}`).toEqual(await store.batchViews(batchId, q, grain));
          }
          const d = { site, pageId, from: CUTOFF - 60 * DAY, to: CUTOFF };
          expect(await small.batchVisitorsByDay(batchId, d)).toEqual(await store.batchVisitorsByDay(batchId, d));
        }
        expect(small.memory.speed + small.memory.batch).toBeLessThanOrEqual(budget);
        expect(small.memory.batch).toBeGreaterThan(0);
      }
    } finally {
      small.stop();
    }
  });
});

describe('ServingViews: change notifications and the sites held', () => {
  it('onChange fires once per new version, after a refresh or a hand-off, never for a refresh that read nothing new; its stop function ends it', async () => {
    const site = `notify-${++siteSeq}`;
    const views = new ServingViews(store, options());
    await views.start();
    let calls = 0;
    const stop = views.onChange(() => {
      calls++;
    });
    try {
      await views.refresh();
      expect(calls).toBe(0);
      version += 1;
      await flush({ pageMinutes: [{ partition: 0, site, pageId: '/a', bucket: T0, views: 1, version }], overflow: [], visitors: [] }, [0]);
      await views.refresh();
      expect(calls).toBe(1);
      await views.refresh();
      expect(calls).toBe(1);
      const held = version;
      version += 1;
      const rows = { pageMinutes: [{ partition: 0, site, pageId: '/a', bucket: T0, views: 2, version }], overflow: [], visitors: [] };
      const checkpoint = { partition: 0, nextOffset: 0, replayFrom: 0, maxEventTime: 0, version };
      await store.writeSpeedFlush(rows, [checkpoint]);
      views.handOff({ rows, checkpoints: [checkpoint], previousVersions: new Map([[0, held]]) });
      expect(calls).toBe(2);
      stop();
      version += 1;
      await flush({ pageMinutes: [{ partition: 0, site, pageId: '/a', bucket: T0, views: 3, version }], overflow: [], visitors: [] }, [0]);
      await views.refresh();
      expect(calls).toBe(2);
    } finally {
      views.stop();
    }
  });

  it('sites() lists the sites with speed page views, not the dimension views kept under <site>|<dimension>', async () => {
    const site = `listed-${++siteSeq}`;
    // After the boundary other tests here may have published: the speed side counts from it.
    const bucket = Math.max(T0, (await store.latestBoundary())?.cutoffTime ?? 0) + 5 * MIN;
    version += 1;
    await flush(
      {
        pageMinutes: [
          { partition: 0, site, pageId: '/a', bucket, views: 1, version },
          { partition: 0, site: `${site}|visit:source`, pageId: 'Google', bucket, views: 1, version },
        ],
        overflow: [],
        visitors: [],
      },
      [0],
    );
    const views = new ServingViews(store, options());
    await views.start();
    try {
      const sites = await views.sites();
      expect(sites).toContain(site);
      expect(sites.filter((s) => s.startsWith(site))).toEqual([site]);
      expect(sites).toEqual([...sites].sort());
    } finally {
      views.stop();
    }
  });
});
