/**
 * The speed layer over the embedded log and DuckDB: dead letters, future skew, late events,
 * replay after a crash between checkpoint and commit, boundary-aware retention, bounds.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedEventLog, type LogRecord } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { encodePageView, pageViewKey, type PageView } from '../../shared/core/page-view.ts';
import { HyperLogLog } from '../../shared/core/sketches/index.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { BUSY_EVENTS } from '../../speed-layer/speed-layer.ts';
import { DEAD_LETTER_HEADERS, SpeedLayer } from '../../speed-layer/index.ts';
import type { SpeedLayerOptions } from '../../speed-layer/index.ts';
import { speedCountedThrough, until } from '../support/wait.ts';
import { readEmbeddedTopic } from '../support/read-log.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;


describe('SpeedLayer (embedded log + DuckDB)', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  let store: DuckDbViewStore;
  let metrics: PlatformMetrics;
  const layers: SpeedLayer[] = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-speed-'));
    log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views', partitions: 2, pollIntervalMs: 20 });
    await log.ensureTopic();
    store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
    await store.migrate();
    metrics = new PlatformMetrics();
  });
  afterEach(async () => {
    for (const layer of layers.splice(0)) await layer.stop().catch(() => undefined);
    await log.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const speed = async (options: SpeedLayerOptions = {}): Promise<SpeedLayer> => {
    const layer = new SpeedLayer(log, store, silentLogger, metrics, { flushIntervalMs: 20, groupId: 'speed', ...options });
    layers.push(layer);
    await layer.start();
    return layer;
  };
  const event = (timestamp: number, pageId = '/a', visitorId = 'v'): PageView => ({
    schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId, visitorId, timestamp,
  });
  const append = (events: PageView[]) => log.append(events.map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })));
  const caughtUp = async (): Promise<void> => {
    const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
    await until('the speed layer to count everything', () => speedCountedThrough(store, end));
  };
  const metric = async (name: string, labels: string): Promise<number> => {
    const text = await metrics.registry.metrics();
    const prefix = labels === '' ? `${name} ` : `${name}{${labels}}`;
    const line = text.split('\n').find((l) => l.startsWith(prefix));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };
  const deadLetters = (): Promise<LogRecord[]> => readEmbeddedTopic(dir, 'page-views.dead-letter');

  it('sends malformed, invalid and far-future records to the dead-letter topic with the original bytes and a reason, and keeps going', async () => {
    const now = Date.now();
    await log.append([
      { key: 'k1', value: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) },
      { key: 'k2', value: '{"pageId":"/x"}' },
      { key: 'k3', value: encodePageView(event(now + 3_600_000)) },
    ]);
    await append([event(now)]);
    await speed();
    await caughtUp();
    const dlq = await deadLetters();
    expect(dlq).toHaveLength(3);
    const byKey = new Map(dlq.map((r) => [r.key?.toString(), r]));
    expect(byKey.get('k1')?.value).toEqual(Buffer.from([0xff, 0xfe, 0x00, 0x7b]));
    expect(byKey.get('k1')?.headers[DEAD_LETTER_HEADERS.reason]).toBe('invalid');
    expect(byKey.get('k1')?.headers[DEAD_LETTER_HEADERS.detail]).toBe('not valid UTF-8');
    expect(byKey.get('k2')?.headers[DEAD_LETTER_HEADERS.detail]).toContain('eventId: is required');
    expect(byKey.get('k3')?.headers[DEAD_LETTER_HEADERS.reason]).toBe('future');
    expect(byKey.get('k3')?.headers[DEAD_LETTER_HEADERS.offset]).toMatch(/^\d+$/);
    expect(await metric('pv_speed_dead_letters_total', 'reason="invalid"')).toBe(2);
    expect(await metric('pv_speed_dead_letters_total', 'reason="future"')).toBe(1);
    const views = await store.speedViews({ site: 'default', from: now - HOUR, to: now + 2 * HOUR });
    expect(views.reduce((a, b) => a + b.views, 0)).toBe(1);
  });

  it('counts late and out-of-order events after the boundary, even 90 minutes late; events before the boundary go to a metric', async () => {
    const t = bucketStart(Date.now(), 'minute') - 30 * MIN;
    // One visitor, one partition: log order is the order below.
    await append([event(t + 10 * MIN), event(t), event(t + 8 * MIN), event(t + 11 * MIN)]);
    const layer = await speed({ hotWindowMs: 5 * MIN });
    await caughtUp();
    expect(await metric('pv_speed_events_total', 'outcome="counted"')).toBe(4);
    const perMinute = async () =>
      (await store.speedViews({ site: 'default', pageId: '/a', from: t - 2 * HOUR, to: t + HOUR })).map((v) => [(v.bucket - t) / MIN, v.views]);
    expect(await perMinute()).toEqual([[0, 1], [8, 1], [10, 1], [11, 1]]);

    // Posted after the current ones: 90 minutes late, and again into an existing minute.
    await append([event(t - 60 * MIN), event(t + 8 * MIN + 5000)]);
    await caughtUp();
    expect(await perMinute()).toEqual([[-60, 1], [0, 1], [8, 2], [10, 1], [11, 1]]);
    expect(await metric('pv_speed_late_merged_total', '')).toBeGreaterThanOrEqual(2);

    // A batch run publishes its boundary at t+9min: earlier minutes are the batch layer's from now on.
    await store.recordBatchRun({
      batchId: 'b1', status: 'success', startedAt: 1, finishedAt: 2, cutoffTime: t + 9 * MIN,
      endOffsets: {}, rowsRead: 0, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: 0, error: null,
    });
    await layer.applyRetention(true);
    await append([event(t + 5 * MIN), event(t + 9 * MIN)]);
    await caughtUp();
    expect(await metric('pv_speed_events_total', 'outcome="before_boundary"')).toBe(1);
    expect(await perMinute()).toEqual([[-60, 1], [0, 1], [8, 2], [9, 1], [10, 1], [11, 1]]);
  });

  it('stretches the flush interval while traffic is light, and returns to the busy pace as soon as it picks up', async () => {
    const layer = await speed({ flushIntervalMs: 20, flushIdleIntervalMs: 160 });
    expect(layer.flushIntervalMs).toBe(20);
    // Every interval the layer schedules a flush at, recorded as it happens: the busy pace lasts only
    // one short interval once traffic stops, too short for a poll to be sure to see it.
    const scheduled: number[] = [];
    const internals = layer as unknown as { schedule(delayMs: number): void };
    const schedule = internals.schedule.bind(layer);
    internals.schedule = (delayMs) => {
      scheduled.push(layer.flushIntervalMs);
      schedule(delayMs);
    };
    await until('the interval to reach the idle maximum', async () => layer.flushIntervalMs === 160);
    const before = scheduled.length;
    const t = Date.now();
    // Three times the busy threshold in one append: however a flush splits its delivery, one part is busy.
    const events = 3 * BUSY_EVENTS;
    await append(Array.from({ length: events }, (_, i) => event(t + i, `/p${i % 10}`, `v${i}`)));
    await until('the interval to drop back', async () => scheduled.slice(before).includes(20));
    await caughtUp();
    const views = await store.speedViews({ site: 'default', from: t - MIN, to: t + HOUR });
    expect(views.reduce((a, b) => a + b.views, 0)).toBe(events);
  });

  it('does not double count when committed offsets lag the checkpoint (crash between checkpoint and commit)', async () => {
    const t = Date.now() - 10 * MIN;
    await append(Array.from({ length: 50 }, (_, i) => event(t + i * 1000, `/p${i % 3}`, `v${i}`)));
    const first = await speed();
    await caughtUp();
    await first.stop();
    layers.splice(0);
    // Rewind the group's committed offsets to 0, as if the process died right after the checkpoint.
    const rewind = await log.consume({ groupId: 'speed', eachBatch: async () => undefined });
    await rewind.commit(new Map([[0, 0], [1, 0]]));
    await rewind.stop();
    await append(Array.from({ length: 10 }, (_, i) => event(t + 50_000 + i * 1000, '/p0', `w${i}`)));
    await speed();
    await caughtUp();
    expect(await metric('pv_speed_events_total', 'outcome="replayed"')).toBe(50);
    const views = await store.speedViews({ site: 'default', from: t - HOUR, to: t + HOUR });
    expect(views.reduce((a, b) => a + b.views, 0)).toBe(60);
  });

  it("a restart replays from the pages' last sketch write: their visitors come back whole, views and dead letters once", async () => {
    const t = bucketStart(Date.now(), 'minute') - 2 * MIN;
    const hour = bucketStart(t, 'hour');
    const visitors = (from: number) => Array.from({ length: 100 }, (_, i) => event(t + (from + i) * 100, '/a', `v${from + i}`));
    // The first flush writes the pages' sketches (perhaps before any event); for the next minute none does.
    await append(visitors(0));
    await log.append([{ key: 'bad-1', value: '{"pageId":"/x"}' }]);
    const first = await speed({ sketchIntervalMs: 60_000 });
    await caughtUp();
    await append(visitors(100));
    await log.append([{ key: 'bad-2', value: '{"pageId":"/y"}' }]);
    await caughtUp();
    const checkpoints = [...(await store.speedCheckpoints()).values()];
    expect(checkpoints.every((c) => c.replayFrom < c.nextOffset)).toBe(true);
    // The process dies after its last checkpoint: its consumer goes, its state is dropped unwritten.
    await (first as unknown as { consumer: { stop(): Promise<void> } }).consumer.stop();
    await first.stop();
    layers.splice(0);

    // The next process writes the pages' sketches at every flush.
    await speed({ sketchIntervalMs: 0 });
    // Consumption resumes at the committed offset, replayFrom: the records from there are replayed.
    const toReplay = checkpoints.reduce((sum, c) => sum + c.nextOffset - c.replayFrom, 0);
    await until('the restarted layer to replay and write the pages\' sketches', async () =>
      (await metric('pv_speed_events_total', 'outcome="replayed"')) >= toReplay &&
      [...(await store.speedCheckpoints()).values()].every((c) => c.replayFrom === c.nextOffset));
    expect(await store.speedViews({ site: 'default', pageId: '/a', from: t, to: t + MIN })).toEqual([{ bucket: t, views: 200, overcountBound: 0 }]);
    const expected = new HyperLogLog(14);
    for (let i = 0; i < 200; i++) expected.addString(`v${i}`);
    const stored = HyperLogLog.union(
      (await store.speedVisitorSketches({ site: 'default', grain: 'hour', pageId: '/a', from: hour, to: hour + HOUR })).map((h) => HyperLogLog.fromBase64(h)),
    );
    expect(stored.equals(expected)).toBe(true);
    expect((await deadLetters()).map((r) => r.key?.toString()).sort()).toEqual(['bad-1', 'bad-2']);
  });

  it('keeps views bounded beyond the key budget: site totals stay exact, a page estimate carries its bound', async () => {
    const t = bucketStart(Date.now(), 'minute') - 10 * MIN;
    const events: PageView[] = [];
    for (let i = 0; i < 400; i++) events.push(event(t + (i % 50) * 100, `/page/${i % 200}`, 'one'));
    for (let i = 0; i < 30; i++) events.push(event(t + 5000, '/hot', 'one'));
    await append(events);
    await speed({ maxExactKeys: 20 });
    await caughtUp();
    const site = await store.speedViews({ site: 'default', from: t, to: t + MIN });
    expect(site).toEqual([{ bucket: t, views: 430, overcountBound: 0 }]);
    const hot = await store.speedViews({ site: 'default', pageId: '/hot', from: t, to: t + MIN });
    expect(hot).toHaveLength(1);
    expect(hot[0]!.views).toBeGreaterThanOrEqual(30);
    expect(hot[0]!.views - 30).toBeLessThanOrEqual(hot[0]!.overcountBound);
    expect(hot[0]!.overcountBound).toBeGreaterThan(0);
  });

  it('unique visitors of a range are the union of its sketches, not the sum', async () => {
    const t = bucketStart(Date.now(), 'hour') - 3 * HOUR;
    const events: PageView[] = [];
    // The same 500 visitors in each of 10 minutes.
    for (let m = 0; m < 10; m++) for (let v = 0; v < 500; v++) events.push(event(t + m * MIN + v, '/a', `visitor-${v}`));
    await append(events);
    await speed();
    await caughtUp();
    const sketches = await store.speedVisitorSketches({ site: 'default', grain: 'minute', from: t, to: t + 10 * MIN });
    const union = new HyperLogLog(14);
    let sumOfBuckets = 0;
    const byBucket = new Map<number, HyperLogLog>();
    for (const s of sketches) union.merge(HyperLogLog.fromBase64(s));
    for (const s of sketches) byBucket.set(byBucket.size, HyperLogLog.fromBase64(s));
    for (const h of byBucket.values()) sumOfBuckets += h.estimate();
    expect(Math.abs(union.estimate() - 500) / 500).toBeLessThan(3 * union.relativeStandardError);
    expect(sumOfBuckets).toBeGreaterThan(4000); // what a wrong, summing implementation would report
  });

  it('retention drops only days the batch layer covers, minus the margin', async () => {
    const today = bucketStart(Date.now(), 'day');
    const events = [event(today - 3 * DAY + HOUR), event(today - 2 * DAY + HOUR), event(today - DAY + HOUR), event(today + 60_000)];
    for (const e of events) await append([e]);
    const layer = await speed({ retentionMarginMs: DAY });
    await caughtUp();
    expect(await layer.applyRetention(true)).toBeNull(); // no batch run yet: nothing is dropped
    const all = { site: 'default', from: today - 4 * DAY, to: today + DAY };
    expect((await store.speedViews(all)).length).toBe(4);
    await store.recordBatchRun({
      batchId: 'b1', status: 'success', startedAt: 1, finishedAt: 2, cutoffTime: today - DAY,
      endOffsets: {}, rowsRead: 0, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: 0, error: null,
    });
    // Boundary = yesterday 00:00, margin 1 day: keep from the day before yesterday.
    expect(await layer.applyRetention(true)).toBe(today - 2 * DAY);
    expect((await store.speedViews(all)).map((v) => v.bucket)).toEqual([today - 2 * DAY + HOUR, today - DAY + HOUR, today + MIN]);
    expect(await store.speedRetainedFrom()).toBe(today - 2 * DAY);
    expect(await metric('pv_speed_retained_from_seconds', '')).toBe((today - 2 * DAY) / 1000);
  });
});
