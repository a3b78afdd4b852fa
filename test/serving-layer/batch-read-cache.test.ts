/**
 * The batch-read cache is bounded by bytes: the size of each read is estimated when it
 * resolves, least recently used reads go first, a read larger than the budget is answered but
 * not kept; and a flood of distinct breakdown ranges (issue #12) keeps the cache's byte gauge
 * within the budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageTotal, ViewQuery, ViewReader } from '../../shared/adapters/view-store/index.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { estimateBytes, withBatchReadCache, type BatchReadCacheUsage, type EvictionReason } from '../../serving-layer/batch-read-cache.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';
import { publishManyPages } from '../support/many-pages.ts';
import { serveBackends, type LocalServer } from '../support/serving-app.ts';

const HOUR = 3_600_000;
const MIB = 1024 * 1024;

describe('estimateBytes', () => {
  it('counts strings at two bytes a character, rows with a fixed overhead, arrays and maps per slot', () => {
    const row = { pageId: '/abc', views: 3 };
    // 64 (row) + 2 × 6 ('pageId') + 16 + 2 × 4 ('/abc') + 2 × 5 ('views') + 8 (a number)
    expect(estimateBytes(row)).toBe(64 + 12 + 24 + 10 + 8);
    expect(estimateBytes([row, row])).toBe(16 + 2 * (8 + 118));
    expect(estimateBytes(new Map([[1, 2], [3, 4]]))).toBe(64 + 2 * (32 + 8 + 8));
    expect(estimateBytes(42)).toBe(8);
    expect(estimateBytes('')).toBe(16);
  });
});

describe('withBatchReadCache', () => {
  /** A reader whose page totals for `from` are `from` rows, counting its reads; failing when `from` is negative. */
  function fakeStore(): { store: ViewReader; reads: number[] } {
    const reads: number[] = [];
    const store = {
      batchPageTotals: (_batchId: string, query: ViewQuery): Promise<PageTotal[]> => {
        reads.push(query.from);
        if (query.from < 0) return Promise.reject(new Error('store down'));
        return Promise.resolve(Array.from({ length: query.from }, (_, i) => ({ pageId: `/p${i}`, views: i })));
      },
    };
    return { store: store as unknown as ViewReader, reads };
  }
  const q = (from: number): ViewQuery => ({ site: 's', from, to: 1_000_000 });
  /** Bytes one cached read of `rows` rows is counted as (its key included). */
  const entryBytes = (rows: number): number =>
    2 * `batchPageTotals\u0000${JSON.stringify(['b', q(rows)])}`.length + estimateBytes(Array.from({ length: rows }, (_, i) => ({ pageId: `/p${i}`, views: i })));

  function cached(budgetBytes: number) {
    const { store, reads } = fakeStore();
    const usage: BatchReadCacheUsage[] = [];
    const evictions: EvictionReason[] = [];
    const cache = withBatchReadCache(store, { budgetBytes, ttlMs: 0, onUsage: (u) => usage.push(u), onEvict: (r) => evictions.push(r) });
    return { cache, reads, usage, evictions };
  }

  it('keeps reads within the budget, dropping the least recently used first', async () => {
    // Room for two reads of 100 rows, not three.
    const { cache, reads, usage, evictions } = cached(2 * entryBytes(100) + 10);
    await cache.batchPageTotals('b', q(100));
    await cache.batchPageTotals('b', q(100)); // a hit: same key
    await cache.batchPageTotals('b', q(99));
    await cache.batchPageTotals('b', q(100)); // a hit: 100 is now the most recently used
    await cache.batchPageTotals('b', q(98)); // drops 99, the least recently used
    expect(evictions).toEqual(['budget']);
    await cache.batchPageTotals('b', q(100));
    await cache.batchPageTotals('b', q(98));
    expect(reads).toEqual([100, 99, 98]);
    await cache.batchPageTotals('b', q(99));
    expect(reads).toEqual([100, 99, 98, 99]);
    expect(Math.max(...usage.map((u) => u.bytes))).toBeLessThanOrEqual(2 * entryBytes(100) + 10);
    expect(usage.at(-1)?.entries).toBe(2);
  });

  it('answers a read larger than the whole budget without keeping it', async () => {
    const { cache, reads, usage, evictions } = cached(entryBytes(50));
    const rows = await cache.batchPageTotals('b', q(51));
    expect(rows).toHaveLength(51);
    await cache.batchPageTotals('b', q(51));
    expect(reads).toEqual([51, 51]);
    expect(evictions).toEqual(['too_large', 'too_large']);
    expect(usage.at(-1)).toEqual({ bytes: 0, entries: 0 });
    await cache.batchPageTotals('b', q(50)); // exactly the budget: kept
    expect(usage.at(-1)).toEqual({ bytes: entryBytes(50), entries: 1 });
  });

  it('does not keep failures', async () => {
    const { cache, reads, usage } = cached(MIB);
    await expect(cache.batchPageTotals('b', q(-1))).rejects.toThrow('store down');
    await expect(cache.batchPageTotals('b', q(-1))).rejects.toThrow('store down');
    expect(reads).toEqual([-1, -1]);
    expect(usage.at(-1)).toEqual({ bytes: 0, entries: 0 });
  });
});

describe('a flood of distinct breakdown ranges (issue #12)', () => {
  const PAGES = 2_000;
  const REQUESTS = 500;
  const BUDGET = 2 * MIB;
  const CUTOFF = Date.UTC(2026, 2, 1);
  let backends: TestBackends;
  let metrics: PlatformMetrics;
  let server: LocalServer;

  beforeAll(async () => {
    backends = await embeddedBackends();
    await backends.store.migrate();
    await publishManyPages(backends.store, { site: 'big', pages: PAGES, cutoffTime: CUTOFF, batchId: 'flood' });
    metrics = new PlatformMetrics();
    server = await serveBackends(backends, { metrics, cacheBudgetBytes: BUDGET });
  });
  afterAll(async () => {
    await server?.close();
    await backends?.cleanup();
  });

  const gauge = async (g: PlatformMetrics['servingCacheBytes']): Promise<number> => (await g.get()).values[0]?.value ?? 0;
  const breakdown = (hoursBack: number) => `${server.base}/api/v1/stats/breakdown?site=big&metrics=pageviews&from=${CUTOFF - hoursBack * HOUR}&to=${CUTOFF}`;

  it(`${REQUESTS} breakdowns with distinct ranges over ${PAGES} pages: the cache's bytes never exceed a 2 MiB budget, old reads are evicted`, async () => {
    let peak = 0;
    for (let i = 1; i <= REQUESTS; i++) {
      const res = await fetch(breakdown(i));
      expect(res.status).toBe(200);
      expect(((await res.json()) as { total: number }).total).toBe(PAGES);
      peak = Math.max(peak, await gauge(metrics.servingCacheBytes));
    }
    const kept = await gauge(metrics.servingCacheEntries);
    const evicted = (await metrics.servingCacheEvictions.get()).values.find((v) => v.labels['reason'] === 'budget')?.value ?? 0;
    console.log(`${REQUESTS} distinct breakdowns: cache peak ${(peak / MIB).toFixed(2)} MiB in at most ${kept} entries (budget ${BUDGET / MIB} MiB), ${evicted} evicted`);
    expect(peak).toBeLessThanOrEqual(BUDGET);
    expect(peak).toBeGreaterThan(BUDGET / 2); // it did keep reads: one of 2,000 pages is about 0.4 MiB
    expect(kept).toBeGreaterThanOrEqual(1);
    expect(evicted).toBeGreaterThanOrEqual(REQUESTS - kept);
    expect(await metrics.registry.metrics()).toMatch(/^pv_serving_cache_bytes \d+/m);
  });

  it('after the flood, the most recent range is still served from the cache', async () => {
    const store = backends.store as unknown as { batchPageTotals: (...args: unknown[]) => Promise<unknown> };
    const original = store.batchPageTotals.bind(backends.store);
    let calls = 0;
    store.batchPageTotals = (...args: unknown[]) => {
      calls += 1;
      return original(...args);
    };
    try {
      // Another page size: not an answer the app has sent at this version, so it reaches the cache of batch reads.
      expect((await fetch(`${breakdown(REQUESTS)}&limit=7`)).status).toBe(200);
      expect(calls).toBe(0);
      expect((await fetch(`${breakdown(1)}&limit=7`)).status).toBe(200); // evicted long ago
      expect(calls).toBe(1);
    } finally {
      store.batchPageTotals = original;
    }
  });
});
