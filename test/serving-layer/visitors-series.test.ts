/**
 * Visitor series read the store a bounded number of times, whatever the number of buckets
 * (issue #12: a 10,000-minute series used to make one store query per bucket, 7.9 s), and
 * give the same HyperLogLog estimates as a union per bucket.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SpeedVisitorsRow, ViewStore } from '../../shared/adapters/view-store/index.ts';
import { unionOfVisitors } from '../../shared/core/query/index.ts';
import { HyperLogLog } from '../../shared/core/sketches/index.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';
import { serveBackends, type LocalServer } from '../support/serving-app.ts';
import { writeCheckpointedSpeedRows } from '../support/speed-rows.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1);

function sketch(ids: string[]): string {
  const h = new HyperLogLog(14);
  for (const id of ids) h.addString(id);
  return h.toBase64();
}

/** Visitors of one sketch row: `count` ids from `first`, so neighbouring rows overlap. */
function row(partition: number, pageId: string, grain: 'minute' | 'hour', bucket: number, first: number, count: number): SpeedVisitorsRow {
  const ids = Array.from({ length: count }, (_, i) => `visitor-${first + i}`);
  return { partition, site: 'series', pageId, grain, bucket, hll: sketch(ids), version: 1 };
}

interface Point {
  date: string;
  visitors?: number | null;
}

describe('visitor series: bounded store reads', () => {
  let backends: TestBackends;
  let server: LocalServer;
  /** Store calls made through the app, by method. */
  const calls = new Map<string, number>();
  const total = (): number => [...calls.values()].reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    backends = await embeddedBackends();
    await backends.store.migrate();
    const visitors: SpeedVisitorsRow[] = [];
    for (let m = 0; m < 30; m++) {
      visitors.push(row(0, '', 'minute', T0 + m * MIN, m * 7, 20 + m));
      if (m % 3 === 0) visitors.push(row(1, '', 'minute', T0 + m * MIN, m * 11, 15));
    }
    // Every 97th minute of a 10,000-minute range has visitors.
    for (let m = 30; m < 10_000; m += 97) visitors.push(row(m % 2, '', 'minute', T0 + m * MIN, m, 5));
    for (let h = 0; h < 72; h++) {
      visitors.push(row(0, '/p', 'hour', T0 + h * HOUR, h * 3, 10 + (h % 5)));
      if (h % 4 === 0) visitors.push(row(1, '/p', 'hour', T0 + h * HOUR, h * 5, 8));
    }
    await writeCheckpointedSpeedRows(backends.store, { pageMinutes: [], overflow: [], visitors });
    const counted = new Proxy(backends.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as ViewStore;
    server = await serveBackends(backends, { store: counted });
  });
  afterAll(async () => {
    await server?.close();
    await backends?.cleanup();
  });
  beforeEach(() => calls.clear());

  async function series(query: string): Promise<Point[]> {
    const res = await fetch(`${server.base}/api/v1/stats/timeseries?site=series&${query}`);
    expect(res.status, query).toBe(200);
    return ((await res.json()) as { results: Point[] }).results;
  }

  /** The per-bucket answer: the union of the bucket's sketches, read on their own. */
  async function perBucket(grain: 'minute' | 'hour', from: number, to: number, pageId?: string): Promise<number> {
    const sketches = await backends.store.speedVisitorSketches({ site: 'series', grain, from, to, ...(pageId === undefined ? {} : { pageId }) });
    return Math.round(unionOfVisitors(sketches).estimate());
  }

  it('a 10,000-minute series with visitors and page views reads the store only to refresh the views (4 calls)', async () => {
    const points = await series(`interval=minute&metrics=visitors,pageviews&from=${T0}&to=${T0 + 10_000 * MIN}`);
    expect(points).toHaveLength(10_000);
    expect(points.filter((p) => (p.visitors ?? 0) > 0).length).toBeGreaterThan(100);
    // One refresh (the app refreshes before each read here): what changed, then the new rows. The series is read from memory.
    expect(Object.fromEntries(calls)).toEqual({ latestBoundary: 1, speedCheckpoints: 1, speedRetainedFrom: 1, speedRowsSince: 1 });
    expect(total()).toBe(4);
  });

  it('minute values equal the per-bucket unions (same HyperLogLog estimates)', async () => {
    const points = await series(`interval=minute&metrics=visitors&from=${T0}&to=${T0 + 30 * MIN}`);
    const expected = await Promise.all(points.map((_, m) => perBucket('minute', T0 + m * MIN, T0 + (m + 1) * MIN)));
    expect(points.map((p) => p.visitors)).toEqual(expected);
    expect(new Set(expected).size).toBeGreaterThan(10); // distinct, non-trivial values
  });

  it('hour and day values of a page equal the per-bucket unions of its hour sketches', async () => {
    const hours = await series(`interval=hour&metrics=visitors&page=%2Fp&from=${T0}&to=${T0 + 72 * HOUR}`);
    const expectedHours = await Promise.all(hours.map((_, h) => perBucket('hour', T0 + h * HOUR, T0 + (h + 1) * HOUR, '/p')));
    expect(hours.map((p) => p.visitors)).toEqual(expectedHours);
    calls.clear();
    const days = await series(`interval=day&metrics=visitors&page=%2Fp&from=${T0}&to=${T0 + 3 * DAY}`);
    expect(calls.get('speedVisitorSketchesByBucket')).toBeUndefined(); // from memory
    const expectedDays = await Promise.all(days.map((_, d) => perBucket('hour', T0 + d * DAY, T0 + (d + 1) * DAY, '/p')));
    expect(days.map((p) => p.visitors)).toEqual(expectedDays);
    expect(expectedDays.every((v) => v > 50)).toBe(true);
  });

  it('a 365-day series straddling the boundary makes 5 store calls: a refresh, the days of the page, the straddling day\'s registers', async () => {
    const cutoff = T0 + 12 * HOUR; // inside the first speed day
    await backends.store.recordBatchRun({
      batchId: 'series-run', status: 'success', startedAt: 1, finishedAt: 2, cutoffTime: cutoff,
      endOffsets: {}, rowsRead: 0, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: 0, error: null,
    });
    calls.clear();
    const points = await series(`interval=day&metrics=visitors&page=%2Fp&from=${T0 - 180 * DAY}&to=${T0 + 185 * DAY}`);
    expect(points).toHaveLength(365);
    expect(Object.fromEntries(calls)).toEqual({
      latestBoundary: 1,
      speedCheckpoints: 1,
      speedRetainedFrom: 1,
      batchVisitorsByDay: 1, // the page's visitors per day, held from now on
      batchVisitorRegisters: 1, // the straddling day: batch registers ∪ speed hours after the cutoff
    });
    // The day after the straddling one is the union of its hour sketches.
    const next = points.find((p) => p.date === new Date(T0 + DAY).toISOString().slice(0, 10));
    expect(next?.visitors).toBe(await perBucket('hour', T0 + DAY, T0 + 2 * DAY, '/p'));
  });
});
