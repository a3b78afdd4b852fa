/**
 * The batch layer against an independently computed ground truth, on any pair of backends:
 * a seeded workload with redelivered duplicates, out-of-order and late events and invalid
 * records; the published views must equal the truth exactly, and a rerun must not change them.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planBatch, runBatch } from '../../batch-layer/index.ts';
import type { EventLog, LogMessage } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { encodePageView, pageViewKey, type PageView } from '../../shared/core/page-view.ts';
import { mulberry32 } from '../../shared/tools/traffic-generator.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import { suiteName } from '../support/infra.ts';

const HOUR = 3_600_000;
const DAY = 86_400_000;

export type BatchBackendFactory = () => Promise<{ log: EventLog; store: ViewStore; cleanup: () => Promise<void> }>;

interface Workload {
  messages: LogMessage[];
  truth: {
    pageHour: Map<string, number>;
    pageDay: Map<string, number>;
    siteHour: Map<number, number>;
    siteDay: Map<number, number>;
    pageDayVisitors: Map<string, Set<string>>;
    siteDayVisitors: Map<number, Set<string>>;
    siteVisitors: Set<string>;
    invalid: number;
    duplicates: number;
    counted: number;
  };
}

/** Seeded workload; the truth is computed here, from the events, with none of the batch code. */
export function batchWorkload(seed: number, day0: number, cutoff: number): Workload {
  const random = mulberry32(seed);
  const pick = (n: number): number => Math.floor(random() * n);
  const events: PageView[] = [];
  for (let i = 0; i < 3000; i++) {
    events.push({
      schemaVersion: 1,
      eventId: randomUUID(),
      site: 'default',
      pageId: `/p${pick(15)}`,
      visitorId: `v${pick(120)}`,
      timestamp: day0 + pick(3 * DAY),
    });
  }
  // Log order: mostly by time, with 10% of events displaced (out of order / late).
  events.sort((a, b) => a.timestamp - b.timestamp);
  for (let i = 0; i < 300; i++) {
    const a = pick(events.length);
    const b = pick(events.length);
    [events[a], events[b]] = [events[b]!, events[a]!];
  }
  const messages: LogMessage[] = [];
  let duplicates = 0;
  let invalid = 0;
  for (const e of events) {
    messages.push({ key: pageViewKey(e), value: encodePageView(e) });
    if (random() < 0.08) {
      messages.push({ key: pageViewKey(e), value: encodePageView(e) }); // redelivery
      if (e.timestamp < cutoff) duplicates += 1;
    }
    if (random() < 0.02) {
      messages.push({ key: null, value: random() < 0.5 ? '{"broken json' : JSON.stringify({ ...e, eventId: 'not-a-uuid' }) });
      invalid += 1;
    }
  }
  const inc = <K>(m: Map<K, number>, k: K): void => void m.set(k, (m.get(k) ?? 0) + 1);
  const add = <K>(m: Map<K, Set<string>>, k: K, v: string): void => void m.set(k, (m.get(k) ?? new Set()).add(v));
  const truth: Workload['truth'] = {
    pageHour: new Map(), pageDay: new Map(), siteHour: new Map(), siteDay: new Map(),
    pageDayVisitors: new Map(), siteDayVisitors: new Map(), siteVisitors: new Set(),
    invalid, duplicates, counted: 0,
  };
  for (const e of events) {
    if (e.timestamp >= cutoff) continue;
    const hour = Math.floor(e.timestamp / HOUR) * HOUR;
    const day = Math.floor(e.timestamp / DAY) * DAY;
    truth.counted += 1;
    inc(truth.pageHour, `${e.pageId}|${hour}`);
    inc(truth.pageDay, `${e.pageId}|${day}`);
    inc(truth.siteHour, hour);
    inc(truth.siteDay, day);
    add(truth.pageDayVisitors, `${e.pageId}|${day}`, e.visitorId);
    add(truth.siteDayVisitors, day, e.visitorId);
    truth.siteVisitors.add(e.visitorId);
  }
  return { messages, truth };
}

export function describeBatchAccuracy(name: string, factory: BatchBackendFactory, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`batch layer against the ground truth: ${name}`, options.skip), () => {
    let log: EventLog;
    let store: ViewStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ log, store, cleanup } = await factory());
      await log.ensureTopic();
      await store.migrate();
    });
    afterEach(async () => {
      await cleanup();
    });

    it('publishes views equal to the truth: deduplicated, late and out-of-order events in their own bucket, invalid ones counted', async () => {
      const day0 = bucketStart(Date.now(), 'day') - 4 * DAY;
      const cutoff = day0 + 2 * DAY + 5 * HOUR; // mid-day: hour buckets straddle day buckets
      const { messages, truth } = batchWorkload(7, day0, cutoff);
      for (let i = 0; i < messages.length; i += 500) await log.append(messages.slice(i, i + 500));

      const plan = await planBatch(log, store, { cutoffTime: cutoff });
      expect(plan.recordsToCopy).toBe(messages.length);
      expect(await store.batchRuns(10)).toEqual([]); // a plan writes nothing

      const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff, insertBatchSize: 700 });
      expect(run).toMatchObject({
        status: 'success',
        rowsRead: messages.length,
        rowsInvalid: truth.invalid,
        rowsDuplicate: truth.duplicates,
        rowsCounted: truth.counted,
      });
      const check = async (batchId: string): Promise<void> => {
        const range = { site: 'default', from: day0, to: day0 + 3 * DAY };
        const got = {
          siteHour: new Map((await store.batchViews(batchId, range, 'hour')).map((r) => [r.bucket, r.views])),
          siteDay: new Map((await store.batchViews(batchId, range, 'day')).map((r) => [r.bucket, r.views])),
          pageHour: new Map<string, number>(),
          pageDay: new Map<string, number>(),
        };
        for (let p = 0; p < 15; p++) {
          for (const r of await store.batchViews(batchId, { ...range, pageId: `/p${p}` }, 'hour')) got.pageHour.set(`/p${p}|${r.bucket}`, r.views);
          for (const r of await store.batchViews(batchId, { ...range, pageId: `/p${p}` }, 'day')) got.pageDay.set(`/p${p}|${r.bucket}`, r.views);
        }
        const sorted = <K>(m: Map<K, number>) => [...m].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
        expect(sorted(got.siteHour)).toEqual(sorted(truth.siteHour));
        expect(sorted(got.siteDay)).toEqual(sorted(truth.siteDay));
        expect(sorted(got.pageHour)).toEqual(sorted(truth.pageHour));
        expect(sorted(got.pageDay)).toEqual(sorted(truth.pageDay));
        // Exact visitors: per day, per page-day, and over the whole range (a union, not a sum).
        const byDay = await store.batchVisitorsByDay(batchId, range);
        expect(byDay).toEqual([...truth.siteDayVisitors].sort((a, b) => a[0] - b[0]).map(([bucket, s]) => ({ bucket, visitors: s.size })));
        expect(await store.batchVisitors(batchId, range)).toBe(truth.siteVisitors.size);
        for (const [key, visitors] of truth.pageDayVisitors) {
          const [pageId, day] = key.split('|');
          expect(await store.batchVisitors(batchId, { site: 'default', pageId: pageId!, from: Number(day), to: Number(day) + DAY })).toBe(visitors.size);
        }
      };
      await check(run.batchId);
      const boundary = await store.latestBoundary();
      expect(boundary).toMatchObject({ batchId: run.batchId, cutoffTime: cutoff });

      // A rerun over the same log copies nothing new and publishes identical views.
      const rerun = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
      expect(rerun.run).toMatchObject({ status: 'success', rowsRead: 0, rowsCounted: truth.counted });
      await check(rerun.run.batchId);
      // A full rebuild from the first offset gives the same views again, here deduplicated in
      // several passes over disjoint event ids (as a large log is).
      store.batchEventsPerPass = 700;
      const full = await runBatch(log, store, silentLogger, { cutoffTime: cutoff, full: true });
      expect(full.run).toMatchObject({ status: 'success', rowsRead: messages.length, rowsCounted: truth.counted });
      await check(full.run.batchId);
      expect((await store.batchRuns(10)).map((r) => r.status)).toEqual(['success', 'success', 'success']);
    });
  });
}
