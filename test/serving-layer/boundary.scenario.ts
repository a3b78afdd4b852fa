/**
 * The merge at the boundary, table-driven, on any view store: each case sets up batch and
 * speed data, then asks the HTTP API. Speed rows are deliberately different from batch rows
 * for the same buckets (the speed layer double-counted), so an answer that reads the wrong
 * side, reads both, or leaves a gap gives a different number.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { HyperLogLog, hash64 } from '../../shared/core/sketches/index.ts';
import { hllRegister } from '../../shared/core/sketches/index.ts';
import type { RawEventRow, ViewStore } from '../../shared/adapters/view-store/index.ts';
import { createServingApp } from '../../serving-layer/index.ts';
import { suiteName } from '../support/infra.ts';
import { writeCheckpointedSpeedRows } from '../support/speed-rows.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 9, 5); // a day start, in the past

export type ServingFactory = () => Promise<{ log: EventLog; store: ViewStore; cleanup: () => Promise<void> }>;

/** Batch: 2 views per hour of page /a for hours [T0, T0+48h). Speed: 5 views per hour (spread over minutes). */
const BATCH_PER_HOUR = 2;
const SPEED_PER_HOUR = 5;

interface Setup {
  batch: boolean;
  cutoff?: number;
  speedFrom?: number;
  speedTo?: number;
}

interface Case {
  name: string;
  setup: Setup;
  from: number;
  to: number;
  interval: 'hour' | 'day' | 'minute';
  expected: { series: [number, number, boolean][]; exactThrough: number | null } | { status: number };
}

const hourly = (from: number, to: number, perHour: number, exact: boolean): [number, number, boolean][] => {
  const out: [number, number, boolean][] = [];
  for (let t = from; t < to; t += HOUR) out.push([t, perHour, exact]);
  return out;
};

export const CASES: Case[] = [
  {
    name: 'range wholly before the boundary: batch only, exact',
    setup: { batch: true, cutoff: T0 + 24 * HOUR, speedFrom: T0, speedTo: T0 + 48 * HOUR },
    from: T0 + 2 * HOUR, to: T0 + 5 * HOUR, interval: 'hour',
    expected: { series: hourly(T0 + 2 * HOUR, T0 + 5 * HOUR, BATCH_PER_HOUR, true), exactThrough: T0 + 24 * HOUR },
  },
  {
    name: 'range wholly after the boundary: speed only, approximate',
    setup: { batch: true, cutoff: T0 + 24 * HOUR, speedFrom: T0, speedTo: T0 + 48 * HOUR },
    from: T0 + 30 * HOUR, to: T0 + 32 * HOUR, interval: 'hour',
    expected: { series: hourly(T0 + 30 * HOUR, T0 + 32 * HOUR, SPEED_PER_HOUR, false), exactThrough: T0 + 24 * HOUR },
  },
  {
    name: 'straddling, boundary on a bucket edge: batch then speed, no gap, no overlap',
    setup: { batch: true, cutoff: T0 + 24 * HOUR, speedFrom: T0, speedTo: T0 + 48 * HOUR },
    from: T0 + 22 * HOUR, to: T0 + 26 * HOUR, interval: 'hour',
    expected: { series: [...hourly(T0 + 22 * HOUR, T0 + 24 * HOUR, BATCH_PER_HOUR, true), ...hourly(T0 + 24 * HOUR, T0 + 26 * HOUR, SPEED_PER_HOUR, false)], exactThrough: T0 + 24 * HOUR },
  },
  {
    name: 'boundary inside a bucket: the day holds batch hours and speed hours',
    setup: { batch: true, cutoff: T0 + 30 * HOUR, speedFrom: T0, speedTo: T0 + 48 * HOUR },
    from: T0, to: T0 + 2 * DAY, interval: 'day',
    expected: { series: [[T0, 24 * BATCH_PER_HOUR, true], [T0 + DAY, 6 * BATCH_PER_HOUR + 18 * SPEED_PER_HOUR, false]], exactThrough: T0 + 30 * HOUR },
  },
  {
    name: 'empty speed side: zeros after the boundary, not batch rows',
    setup: { batch: true, cutoff: T0 + 24 * HOUR },
    from: T0 + 23 * HOUR, to: T0 + 25 * HOUR, interval: 'hour',
    expected: { series: [[T0 + 23 * HOUR, BATCH_PER_HOUR, true], [T0 + 24 * HOUR, 0, false]], exactThrough: T0 + 24 * HOUR },
  },
  {
    name: 'empty batch side (a run with no events): zeros before the boundary, not speed rows',
    setup: { batch: false, cutoff: T0 + 24 * HOUR, speedFrom: T0, speedTo: T0 + 48 * HOUR },
    from: T0 + 23 * HOUR, to: T0 + 25 * HOUR, interval: 'hour',
    expected: { series: [[T0 + 23 * HOUR, 0, true], [T0 + 24 * HOUR, SPEED_PER_HOUR, false]], exactThrough: T0 + 24 * HOUR },
  },
  {
    name: 'no batch run yet: the speed layer answers everything',
    setup: { batch: false, speedFrom: T0, speedTo: T0 + 48 * HOUR },
    from: T0, to: T0 + 2 * HOUR, interval: 'hour',
    expected: { series: hourly(T0, T0 + 2 * HOUR, SPEED_PER_HOUR, false), exactThrough: null },
  },
  {
    name: 'speed layer behind: hours it has not reached are zero and approximate, never batch',
    setup: { batch: true, cutoff: T0 + 24 * HOUR, speedFrom: T0 + 24 * HOUR, speedTo: T0 + 25 * HOUR },
    from: T0 + 24 * HOUR, to: T0 + 27 * HOUR, interval: 'hour',
    expected: { series: [[T0 + 24 * HOUR, SPEED_PER_HOUR, false], [T0 + 25 * HOUR, 0, false], [T0 + 26 * HOUR, 0, false]], exactThrough: T0 + 24 * HOUR },
  },
  {
    name: 'minute buckets before the boundary do not exist: 400',
    setup: { batch: true, cutoff: T0 + 24 * HOUR },
    from: T0 + 23 * HOUR, to: T0 + 24 * HOUR + 5 * MIN, interval: 'minute',
    expected: { status: 400 },
  },
];

async function setUp(store: ViewStore, setup: Setup): Promise<void> {
  if (setup.cutoff !== undefined) {
    const raw: RawEventRow[] = [];
    if (setup.batch) {
      let offset = 0;
      for (let t = T0; t < T0 + 48 * HOUR; t += HOUR) {
        for (let i = 0; i < BATCH_PER_HOUR; i++) {
          const visitorId = `b${offset % 7}`;
          const h = hash64(visitorId);
          const reg = hllRegister(h.hi, h.lo, 14);
          raw.push({ partition: 0, offset: offset++, eventId: randomUUID(), site: 'default', pageId: '/a', visitorId, visitorHllIndex: reg.index, visitorHllRank: reg.rank, eventTime: t + i * MIN, referrer: '', userAgent: '' });
        }
      }
      await store.appendRawEvents(raw);
    }
    const endOffsets = new Map([[0, raw.length]]);
    await store.buildBatchViews('run', { cutoffTime: setup.cutoff, endOffsets });
    await store.recordBatchRun({
      batchId: 'run', status: 'success', startedAt: 1, finishedAt: 2, cutoffTime: setup.cutoff, endOffsets: { '0': raw.length },
      rowsRead: raw.length, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: raw.length, error: null,
    });
  }
  if (setup.speedFrom !== undefined && setup.speedTo !== undefined) {
    const pageMinutes = [];
    const visitors = [];
    for (let t = setup.speedFrom; t < setup.speedTo; t += HOUR) {
      for (let i = 0; i < SPEED_PER_HOUR; i++) pageMinutes.push({ partition: i % 2, site: 'default', pageId: '/a', bucket: t + i * MIN, views: 1, version: 1 });
      const sketch = new HyperLogLog(14);
      for (let v = 0; v < 4; v++) sketch.addString(`s${v}`);
      visitors.push({ partition: 0, site: 'default', pageId: '/a', grain: 'hour' as const, bucket: t, hll: sketch.toBase64(), version: 1 });
    }
    await writeCheckpointedSpeedRows(store, { pageMinutes, overflow: [], visitors });
  }
}

export function describeBoundaryCases(name: string, factory: ServingFactory, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`merge at the boundary: ${name}`, options.skip), () => {
    let store: ViewStore;
    let cleanup: () => Promise<void>;
    let server: Server;
    let base: string;

    beforeEach(async () => {
      const made = await factory();
      store = made.store;
      cleanup = made.cleanup;
      await store.migrate();
      const app = createServingApp({ log: made.log, controlLog: made.log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
      server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
    });
    afterEach(async () => {
      await new Promise((r) => server.close(r));
      await cleanup();
    });

    it.each(CASES)('$name', async ({ setup, from, to, interval, expected }) => {
      await setUp(store, setup);
      const res = await fetch(`${base}/pages/%2Fa/views?interval=${interval}&from=${from}&to=${to}`);
      if ('status' in expected) {
        expect(res.status).toBe(expected.status);
        return;
      }
      expect(res.status).toBe(200);
      const body = (await res.json()) as { exactThrough: string | null; series: { bucket: string; views: number; exact: boolean }[]; total: { views: number } };
      expect(body.exactThrough).toBe(expected.exactThrough === null ? null : new Date(expected.exactThrough).toISOString());
      expect(body.series.map((p) => [Date.parse(p.bucket), p.views, p.exact])).toEqual(expected.series);
      expect(body.total.views).toBe(expected.series.reduce((a, p) => a + p[1], 0));
      // The same merge through the aggregate and timeseries endpoints.
      const agg = (await (await fetch(`${base}/stats/aggregate?metrics=pageviews&page=%2Fa&from=${from}&to=${to}`)).json()) as { results: { pageviews: { value: number } } };
      if (interval !== 'minute') expect(agg.results.pageviews.value).toBe(body.total.views);
    });

    it('visitors across the boundary are a union of batch registers and speed sketches, not a sum', async () => {
      await setUp(store, { batch: true, cutoff: T0 + 24 * HOUR, speedFrom: T0 + 24 * HOUR, speedTo: T0 + 48 * HOUR });
      const get = async (from: number, to: number) =>
        ((await (await fetch(`${base}/stats/aggregate?metrics=visitors&page=%2Fa&from=${from}&to=${to}`)).json()) as { results: { visitors: { value: number; exact: boolean } } }).results.visitors;
      expect(await get(T0, T0 + 24 * HOUR)).toMatchObject({ value: 7, exact: true }); // b0..b6
      expect(await get(T0 + 24 * HOUR, T0 + 48 * HOUR)).toMatchObject({ value: 4, exact: false }); // s0..s3 in every hour
      expect(await get(T0, T0 + 48 * HOUR)).toMatchObject({ value: 11, exact: false });
      const series = (await (await fetch(`${base}/stats/timeseries?metrics=visitors&page=%2Fa&interval=day&from=${T0}&to=${T0 + 2 * DAY}`)).json()) as { results: { visitors: number; exact: boolean }[] };
      expect(series.results.map((p) => [p.visitors, p.exact])).toEqual([[7, true], [4, false]]);
    });
  });
}
