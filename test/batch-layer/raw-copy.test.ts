/**
 * The raw copy's concurrency (batch-layer/raw-copy.ts), with an injected log and store that
 * record a timeline: partitions copied in parallel, reading going on while a partition's insert
 * is in flight, at most one insert in flight per partition and its batches in offset order, and
 * a failed insert failing the copy with nothing left in flight. Then the same through runBatch
 * on the embedded backends: an insert failure mid-copy fails the run with its cause, and a
 * rerun completes exactly.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { copyRawRanges, type RawCopyRange, type RawCopyStore } from '../../batch-layer/raw-copy.ts';
import { PlatformError, isPlatformError } from '../../shared/core/errors.ts';
import { encodePageView, pageViewKey } from '../../shared/core/page-view.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import type { EventLog, LogRecord, ReadRangeOptions } from '../../shared/adapters/event-log/index.ts';
import type { InvalidRecordRow, RawEventRow, ViewStore } from '../../shared/adapters/view-store/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';

const HOUR = 3_600_000;
const T0 = bucketStart(Date.now(), 'day') - 2 * 24 * HOUR;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Record `offset` of `partition`: a valid page view, or (every `invalidEvery`-th) a broken one. */
function record(partition: number, offset: number, invalidEvery = 0): LogRecord {
  const invalid = invalidEvery > 0 && offset % invalidEvery === invalidEvery - 1;
  const value = invalid
    ? '{"broken json'
    : encodePageView({ schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId: `/p${offset % 7}`, visitorId: `v${offset % 13}`, timestamp: T0 + offset });
  return { partition, offset, key: null, value: Buffer.from(value), timestamp: T0, headers: {} };
}

type Step = { kind: 'read'; partition: number; offset: number } | { kind: 'insert-start' | 'insert-end'; partition: number; table: 'raw' | 'invalid'; first: number; last: number };

/** A log of `partitions` × `records` records, read in chunks of `chunk`, with a little delay per chunk. */
function fakeLog(timeline: Step[], records: number, chunk: number, invalidEvery = 0): EventLog {
  return {
    readRange: async (options: ReadRangeOptions): Promise<void> => {
      for (let offset = options.fromOffset; offset < options.toOffset; offset += chunk) {
        await sleep(1);
        const end = Math.min(options.toOffset, offset + chunk, records);
        const chunkRecords: LogRecord[] = [];
        for (let o = offset; o < end; o++) chunkRecords.push(record(options.partition, o, invalidEvery));
        timeline.push({ kind: 'read', partition: options.partition, offset });
        await options.onRecords(chunkRecords);
      }
    },
  } as unknown as EventLog;
}

/** A store whose inserts take `insertMs`; `failOn` makes one insert reject instead. */
function slowStore(timeline: Step[], insertMs: number, failOn?: (table: 'raw' | 'invalid', rows: readonly { partition: number; offset: number }[]) => Error | undefined): RawCopyStore & { raw: RawEventRow[]; invalid: InvalidRecordRow[] } {
  const raw: RawEventRow[] = [];
  const invalid: InvalidRecordRow[] = [];
  const insert = async <T extends { partition: number; offset: number }>(table: 'raw' | 'invalid', rows: readonly T[], into: T[]): Promise<void> => {
    if (rows.length === 0) return;
    const step = { partition: rows[0]!.partition, table, first: rows[0]!.offset, last: rows[rows.length - 1]!.offset };
    timeline.push({ kind: 'insert-start', ...step });
    await sleep(insertMs);
    const error = failOn?.(table, rows);
    timeline.push({ kind: 'insert-end', ...step });
    if (error !== undefined) throw error;
    into.push(...rows);
  };
  return {
    raw,
    invalid,
    appendRawEvents: (rows) => insert('raw', rows, raw),
    appendInvalidRecords: (rows) => insert('invalid', rows, invalid),
  };
}

const ranges = (partitions: number, to: number, from = 0): RawCopyRange[] => Array.from({ length: partitions }, (_, partition) => ({ partition, from, to }));

describe('raw copy: partitions in parallel, reading overlapping inserting', () => {
  it('copies every offset once, reads while a partition inserts, one insert in flight per partition, in offset order', async () => {
    const timeline: Step[] = [];
    const store = slowStore(timeline, 30);
    const written: [number, number][] = [];
    await copyRawRanges(fakeLog(timeline, 400, 25, 10), store, ranges(3, 400), {
      batchSize: 100,
      concurrency: 4,
      logger: silentLogger,
      onBatchWritten: (rows, invalid) => written.push([rows, invalid]),
    });

    for (let p = 0; p < 3; p++) {
      // Exactly the range, each offset once: valid ones as events, every 10th in the ledger.
      const raw = store.raw.filter((r) => r.partition === p).map((r) => r.offset);
      const invalid = store.invalid.filter((r) => r.partition === p).map((r) => r.offset);
      expect(raw).toHaveLength(360);
      expect(invalid).toHaveLength(40);
      expect([...raw, ...invalid].sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, i) => i));
      expect(invalid.every((o) => o % 10 === 9)).toBe(true);

      // Per partition: inserts one at a time, in offset order (events of a batch before its ledger entries).
      let inFlight = 0;
      let lastOffset = -1;
      for (const step of timeline) {
        if (step.kind === 'read' || step.partition !== p) continue;
        if (step.kind === 'insert-start') {
          inFlight += 1;
          expect(inFlight).toBe(1);
          // A batch's events start after everything written before them, ledger entries included.
          if (step.table === 'raw') expect(step.first).toBeGreaterThan(lastOffset);
        } else {
          inFlight -= 1;
          lastOffset = Math.max(lastOffset, step.last);
        }
      }

      // Reading went on while an insert of the same partition was in flight.
      const readsDuringInsert = timeline.filter((step, i) => {
        if (step.kind !== 'read' || step.partition !== p) return false;
        const before = timeline.slice(0, i).filter((s) => s.kind !== 'read' && s.partition === p);
        return before.length > 0 && before[before.length - 1]!.kind === 'insert-start';
      });
      expect(readsDuringInsert.length).toBeGreaterThan(0);
    }

    // Partitions overlap: at some moment inserts of several partitions were in flight.
    let inFlight = 0;
    let most = 0;
    for (const step of timeline) {
      if (step.kind === 'insert-start') most = Math.max(most, ++inFlight);
      if (step.kind === 'insert-end') inFlight -= 1;
    }
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(3);

    // Progress adds up to every record, with the invalid ones.
    expect(written.reduce((a, [rows]) => a + rows, 0)).toBe(1200);
    expect(written.reduce((a, [, invalid]) => a + invalid, 0)).toBe(120);
  });

  it('copies at most `concurrency` partitions at once, and stops exactly at each range end', async () => {
    const timeline: Step[] = [];
    const store = slowStore(timeline, 5);
    const reading = new Set<number>();
    let most = 0;
    const inner = fakeLog(timeline, 1000, 50);
    const log = {
      readRange: async (options: ReadRangeOptions) => {
        reading.add(options.partition);
        most = Math.max(most, reading.size);
        try {
          await inner.readRange(options);
        } finally {
          reading.delete(options.partition);
        }
      },
    } as unknown as EventLog;
    const copy: RawCopyRange[] = [
      { partition: 0, from: 0, to: 130 },
      { partition: 1, from: 40, to: 41 },
      { partition: 2, from: 7, to: 7 }, // nothing to copy
      { partition: 3, from: 100, to: 333 },
      { partition: 4, from: 0, to: 99 },
    ];
    await copyRawRanges(log, store, copy, { batchSize: 60, concurrency: 2, logger: silentLogger, onBatchWritten: () => undefined });
    expect(most).toBe(2);
    for (const { partition, from, to } of copy) {
      const offsets = store.raw.filter((r) => r.partition === partition).map((r) => r.offset);
      expect(offsets).toEqual(Array.from({ length: to - from }, (_, i) => from + i));
    }
  });

  it('an insert failure fails the copy with that error once everything in flight settled; other partitions stop', async () => {
    const timeline: Step[] = [];
    const down = new PlatformError('PV_STORE_UNAVAILABLE', 'the store went away', { retriable: true });
    const store = slowStore(timeline, 20, (table, rows) => (table === 'raw' && rows[0]!.partition === 1 && rows[0]!.offset === 200 ? down : undefined));
    // The failing batch is tried RAW_COPY_WRITE_ATTEMPTS times (1.5 s); the other partitions would take 4 s.
    const copy = copyRawRanges(fakeLog(timeline, 20_000, 100), store, ranges(3, 20_000), { batchSize: 100, concurrency: 3, logger: silentLogger, onBatchWritten: () => undefined });
    await expect(copy).rejects.toBe(down);

    // Nothing in flight after the rejection, and nothing starts later.
    const starts = timeline.filter((s) => s.kind === 'insert-start').length;
    expect(timeline.filter((s) => s.kind === 'insert-end').length).toBe(starts);
    await sleep(100);
    expect(timeline.filter((s) => s.kind === 'insert-start').length).toBe(starts);

    // Every partition's copied offsets are a prefix of its range (where the next run resumes).
    for (let p = 0; p < 3; p++) {
      const offsets = store.raw.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i));
      expect(offsets.length).toBeLessThan(20_000); // stopped early
    }
    expect(store.raw.filter((r) => r.partition === 1)).toHaveLength(200);
  });

  it('a batch whose insert fails with a retriable error is written again before the next one starts', async () => {
    const timeline: Step[] = [];
    let failures = 0;
    const store = slowStore(timeline, 5, (table, rows) => {
      if (table !== 'raw' || rows[0]!.partition !== 0 || rows[0]!.offset !== 100 || failures >= 2) return undefined;
      failures += 1;
      return new PlatformError('PV_STORE_UNAVAILABLE', 'a stale connection', { retriable: true });
    });
    await copyRawRanges(fakeLog(timeline, 300, 50), store, ranges(1, 300), { batchSize: 100, concurrency: 1, logger: silentLogger, onBatchWritten: () => undefined });
    expect(failures).toBe(2);
    expect(store.raw.map((r) => r.offset)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const starts = timeline.filter((s) => s.kind === 'insert-start').map((s) => (s.kind === 'read' ? -1 : s.first));
    expect(starts).toEqual([0, 100, 100, 100, 200]);
  });

  it('a read failure fails the copy with that error and waits for the insert in flight', async () => {
    const timeline: Step[] = [];
    const store = slowStore(timeline, 40);
    const broken = new PlatformError('PV_LOG_UNAVAILABLE', 'the log went away', { retriable: true });
    const inner = fakeLog(timeline, 1000, 50);
    const log = {
      readRange: (options: ReadRangeOptions) =>
        inner.readRange({
          ...options,
          onRecords: async (records) => {
            if (options.partition === 0 && records[0]!.offset === 150) throw broken;
            await options.onRecords(records);
          },
        }),
    } as unknown as EventLog;
    await expect(copyRawRanges(log, store, ranges(2, 1000), { batchSize: 100, concurrency: 2, logger: silentLogger, onBatchWritten: () => undefined })).rejects.toBe(broken);
    expect(timeline.filter((s) => s.kind === 'insert-end').length).toBe(timeline.filter((s) => s.kind === 'insert-start').length);
    expect(store.raw.filter((r) => r.partition === 0).map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('raw copy through runBatch (embedded log + DuckDB)', () => {
  let backends: TestBackends | undefined;
  afterEach(async () => {
    await backends?.cleanup();
    backends = undefined;
  });

  it('an insert failure mid-copy fails the run with its cause; a rerun completes exactly', async () => {
    backends = await embeddedBackends({ partitions: 4 });
    const { log, store } = backends;
    await log.ensureTopic();
    await store.migrate();
    const count = 6000;
    for (let i = 0; i < count; i += 1000) {
      const messages = [];
      for (let j = i; j < i + 1000; j++) {
        const e = { schemaVersion: 1 as const, eventId: randomUUID(), site: 'default', pageId: `/p${j % 11}`, visitorId: `v${j % 97}`, timestamp: T0 + (j % (3 * HOUR)) };
        messages.push({ key: pageViewKey(e), value: encodePageView(e) });
      }
      messages.push({ key: null, value: '{"broken json' });
      await log.append(messages);
    }
    const cutoff = T0 + 3 * HOUR;

    // From the third insert of events on, every insert fails (retries included): the store went away.
    let inserts = 0;
    const failing = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'appendRawEvents') {
          return async (rows: readonly RawEventRow[]) => {
            if (++inserts >= 3) throw new PlatformError('PV_STORE_UNAVAILABLE', 'the store went away', { retriable: true });
            return target.appendRawEvents(rows);
          };
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as ViewStore;
    const failed = await runBatch(log, failing, silentLogger, { cutoffTime: cutoff, insertBatchSize: 500 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isPlatformError(failed, 'PV_STORE_UNAVAILABLE')).toBe(true);
    expect((failed as Error).message).toBe('the store went away');
    const copied = await store.rawCopyEndOffsets();
    expect([...copied.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);

    const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff, insertBatchSize: 500 });
    expect(run.status).toBe('success');
    expect(run.rowsCounted).toBe(count);
    expect(run.rowsInvalid).toBeLessThanOrEqual(6);
    const views = await store.batchViews(run.batchId, { site: 'default', from: T0, to: cutoff }, 'hour');
    expect(views.reduce((a, b) => a + b.views, 0)).toBe(count);
    const runs = await store.batchRuns(10);
    expect(runs.map((r) => r.status)).toEqual(['success', 'failed']);
    expect(runs[1]?.error).toBe('the store went away');
  });
});
