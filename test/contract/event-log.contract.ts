/**
 * The EventLog contract: the same assertions run against every implementation
 * (event-log-embedded.test.ts, event-log-kafka.test.ts), so the embedded default cannot
 * drift from Kafka. Each test gets a fresh log on its own topic from `makeLog`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPlatformError } from '../../shared/core/errors.ts';
import type { EventLog, LogBatch, LogConsumer, LogMessage, LogRecord } from '../../shared/adapters/event-log/index.ts';

export interface EventLogFixture {
  /** A log on a fresh topic `pv-<uuid>` (not yet ensured). */
  log: EventLog;
  /** Opens another topic of the same log (same dataDir / brokers); closed and removed by cleanup. */
  openTopic(topic: string): Promise<EventLog>;
  /** Closes the logs and deletes their topics / data. */
  cleanup(): Promise<void>;
}

const WAIT_MS = 8000;

async function waitUntil(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits until the consumer has been handed every partition's last record (the end offsets
 * as of now). Per partition, batches come in offset order, so anything delivered twice
 * before that point is in `records` by then: no sleep is needed to catch it.
 */
async function waitDeliveredToEnd(log: EventLog, collector: { records: LogRecord[] }, from: ReadonlyMap<number, number> = new Map()): Promise<void> {
  const end = await log.endOffsets();
  const reached = (): boolean =>
    [...end].every(
      ([partition, endOffset]) => endOffset <= (from.get(partition) ?? 0) || collector.records.some((r) => r.partition === partition && r.offset === endOffset - 1),
    );
  await waitUntil(reached, `every partition delivered up to ${JSON.stringify(Object.fromEntries(end))}`);
}

async function readAll(log: EventLog, partition: number, fromOffset: number, toOffset: number): Promise<LogRecord[][]> {
  const chunks: LogRecord[][] = [];
  await log.readRange({
    partition,
    fromOffset,
    toOffset,
    onRecords: async (records) => {
      chunks.push(records);
    },
  });
  return chunks;
}

async function readPartition(log: EventLog, partition: number): Promise<LogRecord[]> {
  const [start, end] = await Promise.all([log.startOffsets(), log.endOffsets()]);
  return (await readAll(log, partition, start.get(partition) ?? 0, end.get(partition) ?? 0)).flat();
}

async function readEverything(log: EventLog): Promise<LogRecord[]> {
  const count = await log.partitionCount();
  const all: LogRecord[] = [];
  for (let p = 0; p < count; p++) all.push(...(await readPartition(log, p)));
  return all;
}

function sum(offsets: Map<number, number>): number {
  let total = 0;
  for (const value of offsets.values()) total += value;
  return total;
}

interface Collector {
  consumer: LogConsumer;
  records: LogRecord[];
  batches: LogBatch[];
  assigned: number[][];
  revoked: number[][];
}

async function collect(log: EventLog, groupId: string): Promise<Collector> {
  const collector: Omit<Collector, 'consumer'> = { records: [], batches: [], assigned: [], revoked: [] };
  const consumer = await log.consume({
    groupId,
    eachBatch: async (batch) => {
      collector.batches.push(batch);
      collector.records.push(...batch.records);
    },
    onAssigned: (partitions) => {
      collector.assigned.push(partitions);
    },
    onRevoked: (partitions) => {
      collector.revoked.push(partitions);
    },
  });
  return { consumer, ...collector };
}

function key(record: LogRecord): string {
  return `${record.partition}:${record.offset}`;
}

function values(records: LogRecord[]): string[] {
  return records.map((r) => r.value.toString('utf8'));
}

async function expectCode(promise: Promise<unknown>, code: Parameters<typeof isPlatformError>[1]): Promise<void> {
  const error = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  expect(error, `expected a rejection with ${code}`).not.toBeNull();
  expect(isPlatformError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
}

export function describeEventLogContract(name: string, makeLog: () => Promise<EventLogFixture>): void {
  describe(`EventLog contract: ${name}`, () => {
    let fixture: EventLogFixture;
    let log: EventLog;

    beforeEach(async () => {
      fixture = await makeLog();
      log = fixture.log;
      expect(log.topic).toMatch(/^pv-/);
      await log.ensureTopic();
    });

    afterEach(async () => {
      await fixture.cleanup();
    });

    it('ensureTopic is idempotent and a new topic starts empty', async () => {
      await log.ensureTopic();
      const count = await log.partitionCount();
      expect(count).toBe(4);
      const expected = new Map(Array.from({ length: count }, (_, p) => [p, 0] as [number, number]));
      expect(await log.startOffsets()).toEqual(expected);
      expect(await log.endOffsets()).toEqual(expected);
    });

    it('append then readRange returns the records in order with consecutive offsets', async () => {
      const before = Date.now();
      await log.append(Array.from({ length: 10 }, (_, i) => ({ key: 'visitor-1', value: `v${i}` })));
      const after = Date.now();
      const end = await log.endOffsets();
      const partitions = [...end].filter(([, offset]) => offset > 0);
      expect(partitions).toHaveLength(1);
      const [partition, endOffset] = partitions[0]!;
      expect(endOffset).toBe(10);
      const records = (await readAll(log, partition, 0, 10)).flat();
      expect(records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(values(records)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i}`));
      for (const record of records) {
        expect(record.partition).toBe(partition);
        expect(record.key?.toString('utf8')).toBe('visitor-1');
        expect(record.headers).toEqual({});
        expect(record.timestamp).toBeGreaterThanOrEqual(before - 5000);
        expect(record.timestamp).toBeLessThanOrEqual(after + 5000);
      }
    });

    it('records with the same key land on one partition and keep their order', async () => {
      const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
      const messages: LogMessage[] = [];
      for (let i = 0; i < 60; i++) messages.push({ key: keys[i % keys.length]!, value: String(i) });
      await log.append(messages.slice(0, 30));
      await log.append(messages.slice(30));
      const all = await readEverything(log);
      expect(all).toHaveLength(60);
      for (const k of keys) {
        const ofKey = all.filter((r) => r.key?.toString('utf8') === k);
        expect(new Set(ofKey.map((r) => r.partition)).size).toBe(1);
        const sorted = [...ofKey].sort((x, y) => x.offset - y.offset);
        const numbers = sorted.map((r) => Number(r.value.toString('utf8')));
        expect(numbers).toEqual([...numbers].sort((x, y) => x - y));
        expect(numbers).toHaveLength(10);
      }
    });

    it('concurrent appends all resolve; every record is in the log once, each key in call order', async () => {
      const keys = Array.from({ length: 8 }, (_, k) => `key-${k}`);
      const calls = 80;
      const perCall = 25;
      const deadLetters = `${log.topic}-dlq`;
      // Every call made before any resolves; every fifth also writes to another topic.
      const appends: Promise<void>[] = [];
      for (let c = 0; c < calls; c++) {
        const batch = Array.from({ length: perCall }, (_, i) => ({ key: keys[(c + i) % keys.length]!, value: `${c}:${i}` }));
        appends.push(log.append(batch));
        if (c % 5 === 0) appends.push(log.appendTo(deadLetters, [{ key: `dl-${c}`, value: `dead ${c}` }]));
      }
      await Promise.all(appends);
      const all = await readEverything(log);
      expect(all).toHaveLength(calls * perCall);
      expect(new Set(values(all)).size).toBe(calls * perCall);
      for (const k of keys) {
        const ofKey = all.filter((r) => r.key?.toString('utf8') === k).sort((x, y) => x.offset - y.offset);
        expect(new Set(ofKey.map((r) => r.partition)).size).toBe(1);
        const order = ofKey.map((r) => r.value.toString('utf8').split(':').map(Number) as [number, number]);
        const inCallOrder = [...order].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
        expect(order).toEqual(inCallOrder);
      }
      const other = await fixture.openTopic(deadLetters);
      expect(values(await readEverything(other)).sort()).toEqual(
        Array.from({ length: calls / 5 }, (_, i) => `dead ${i * 5}`).sort(),
      );
    });

    it('null keys spread over partitions; endOffsets count every record', async () => {
      await log.append(Array.from({ length: 40 }, (_, i) => ({ key: null, value: `n${i}` })));
      const end = await log.endOffsets();
      expect(sum(end)).toBe(40);
      expect([...end.values()].filter((o) => o > 0).length).toBeGreaterThan(1);
      expect([...(await log.startOffsets()).values()]).toEqual([0, 0, 0, 0]);
      expect(new Set(values(await readEverything(log)))).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `n${i}`)));
    });

    it('an empty append is a no-op', async () => {
      await log.append([]);
      expect(sum(await log.endOffsets())).toBe(0);
    });

    it('readRange boundaries are exact: from inclusive, to exclusive', async () => {
      await log.append(Array.from({ length: 50 }, (_, i) => ({ key: 'same', value: String(i) })));
      const partition = [...(await log.endOffsets())].find(([, o]) => o > 0)![0];
      const middle = (await readAll(log, partition, 10, 20)).flat();
      expect(middle.map((r) => r.offset)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
      expect(values(middle)).toEqual(['10', '11', '12', '13', '14', '15', '16', '17', '18', '19']);
      expect((await readAll(log, partition, 49, 50)).flat().map((r) => r.offset)).toEqual([49]);
      expect(await readAll(log, partition, 0, 0)).toEqual([]);
      expect(await readAll(log, partition, 50, 50)).toEqual([]);
      await expectCode(readAll(log, partition, 0, 51), 'PV_OFFSET_OUT_OF_RANGE');
      await expectCode(readAll(log, partition, 60, 70), 'PV_OFFSET_OUT_OF_RANGE');
    });

    it('readRange reads more than 10k records in ordered chunks of at most 10000', async () => {
      const total = 12_500;
      for (let start = 0; start < total; start += 2500) {
        await log.append(Array.from({ length: 2500 }, (_, i) => ({ key: 'bulk', value: String(start + i) })));
      }
      const partition = [...(await log.endOffsets())].find(([, o]) => o > 0)![0];
      const chunks = await readAll(log, partition, 0, total);
      expect(chunks.length).toBeGreaterThan(1);
      for (const chunk of chunks) {
        expect(chunk.length).toBeGreaterThan(0);
        expect(chunk.length).toBeLessThanOrEqual(10_000);
      }
      const offsets = chunks.flat().map((r) => r.offset);
      expect(offsets).toHaveLength(total);
      expect(offsets.every((o, i) => o === i)).toBe(true);
      expect(chunks.flat()[total - 1]!.value.toString()).toBe(String(total - 1));

      const partial = (await readAll(log, partition, 5, 12_345)).flat();
      expect(partial).toHaveLength(12_340);
      expect(partial[0]!.offset).toBe(5);
      expect(partial[partial.length - 1]!.offset).toBe(12_344);
    });

    it('consume delivers every record once from the earliest offset, per partition in order', async () => {
      await log.append(Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 7}`, value: String(i) })));
      const c = await collect(log, `g-${randomUUID()}`);
      expect(c.consumer.assignment()).toEqual([0, 1, 2, 3]);
      await waitUntil(() => c.records.length >= 40, '40 records');
      // Records appended while consuming are delivered too.
      await log.append(Array.from({ length: 5 }, (_, i) => ({ key: null, value: `late${i}` })));
      await waitDeliveredToEnd(log, c);
      await c.consumer.stop();
      await c.consumer.stop();
      expect(c.records).toHaveLength(45);
      expect(new Set(c.records.map(key)).size).toBe(45);
      for (const batch of c.batches) {
        expect(batch.records.length).toBeGreaterThan(0);
        expect(batch.records.length).toBeLessThanOrEqual(10_000);
        const offsets = batch.records.map((r) => r.offset);
        expect(batch.records.every((r) => r.partition === batch.partition)).toBe(true);
        expect(offsets.every((o, i) => i === 0 || o === offsets[i - 1]! + 1)).toBe(true);
        expect(batch.highWatermark).toBeGreaterThanOrEqual(offsets[offsets.length - 1]! + 1);
      }
      expect(c.assigned).toEqual([[0, 1, 2, 3]]);
      expect(c.revoked).toEqual([[0, 1, 2, 3]]);
      expect(c.consumer.assignment()).toEqual([]);
    });

    it('after commit and stop, a new consumer of the group resumes exactly after the commit', async () => {
      const groupId = `g-${randomUUID()}`;
      await log.append(Array.from({ length: 20 }, (_, i) => ({ key: null, value: `a${i}` })));
      const first = await collect(log, groupId);
      await waitUntil(() => first.records.length >= 20, '20 records');
      // Acknowledge the first two records of every partition.
      const committed = new Map<number, number>();
      for (const record of first.records) {
        committed.set(record.partition, Math.min(committed.get(record.partition) ?? Infinity, record.offset) );
      }
      for (const [partition, firstOffset] of committed) committed.set(partition, firstOffset + 2);
      await first.consumer.commit(committed);
      await first.consumer.stop();
      expect(await log.committedOffsets(groupId)).toEqual(committed);

      await log.append(Array.from({ length: 8 }, (_, i) => ({ key: null, value: `b${i}` })));
      const end = await log.endOffsets();
      let expectedCount = 0;
      for (const [partition, endOffset] of end) expectedCount += endOffset - (committed.get(partition) ?? 0);
      const second = await collect(log, groupId);
      await waitDeliveredToEnd(log, second, committed);
      await second.consumer.stop();
      expect(second.records).toHaveLength(expectedCount);
      for (const [partition, endOffset] of end) {
        const offsets = second.records.filter((r) => r.partition === partition).map((r) => r.offset);
        const from = committed.get(partition) ?? 0;
        expect(offsets).toEqual(Array.from({ length: endOffset - from }, (_, i) => from + i));
      }
    });

    it('uncommitted batches are replayed to a new consumer of the group', async () => {
      const groupId = `g-${randomUUID()}`;
      await log.append(Array.from({ length: 12 }, (_, i) => ({ key: `u${i}`, value: String(i) })));
      const first = await collect(log, groupId);
      await waitUntil(() => first.records.length >= 12, '12 records');
      await first.consumer.stop();
      const second = await collect(log, groupId);
      await waitUntil(() => second.records.length >= 12, '12 replayed records');
      await second.consumer.stop();
      expect(new Set(second.records.map(key))).toEqual(new Set(first.records.map(key)));
    });

    it('committedOffsets returns what the group committed, nothing for unknown groups', async () => {
      const groupId = `g-${randomUUID()}`;
      expect(await log.committedOffsets(groupId)).toEqual(new Map());
      await log.append(Array.from({ length: 10 }, (_, i) => ({ key: 'c', value: String(i) })));
      const partition = [...(await log.endOffsets())].find(([, o]) => o > 0)![0];
      const c = await collect(log, groupId);
      await waitUntil(() => c.records.length >= 10, '10 records');
      await c.consumer.commit(new Map([[partition, 5]]));
      expect(await log.committedOffsets(groupId)).toEqual(new Map([[partition, 5]]));
      await c.consumer.commit(new Map([[partition, 10]]));
      await c.consumer.stop();
      expect(await log.committedOffsets(groupId)).toEqual(new Map([[partition, 10]]));
    });

    it('appendTo writes to another topic of the same log', async () => {
      const deadLetters = `${log.topic}-dlq`;
      await log.appendTo(deadLetters, [{ key: 'bad-1', value: '{"broken"', headers: { reason: 'invalid json' } }]);
      expect(sum(await log.endOffsets())).toBe(0);
      const other = await fixture.openTopic(deadLetters);
      const records = await readEverything(other);
      expect(records).toHaveLength(1);
      expect(records[0]!.key?.toString()).toBe('bad-1');
      expect(records[0]!.value.toString()).toBe('{"broken"');
      expect(records[0]!.headers).toEqual({ reason: 'invalid json' });
    });

    it('headers round-trip', async () => {
      await log.append([
        { key: 'h', value: 'with', headers: { reason: 'schema', 'x-ünïcode': 'välue ✓', empty: '' } },
        { key: 'h', value: 'without' },
      ]);
      const records = await readEverything(log);
      expect(records.map((r) => r.headers)).toEqual([
        { reason: 'schema', 'x-ünïcode': 'välue ✓', empty: '' },
        {},
      ]);
    });

    it('binary and non-UTF-8 values round-trip byte for byte', async () => {
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const invalidUtf8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x00]);
      const big = Buffer.alloc(100_000, 0xab);
      await log.append([
        { key: 'bin', value: allBytes },
        { key: 'bin', value: invalidUtf8 },
        { key: 'bin', value: big },
        { key: 'bin', value: 'plain text ✓' },
      ]);
      const records = await readEverything(log);
      expect(records).toHaveLength(4);
      expect(records[0]!.value.equals(allBytes)).toBe(true);
      expect(records[1]!.value.equals(invalidUtf8)).toBe(true);
      expect(records[2]!.value.equals(big)).toBe(true);
      expect(records[3]!.value.toString('utf8')).toBe('plain text ✓');
    });

    it('ping is true while open; after close calls reject with PV_LOG_CLOSED', async () => {
      expect(await log.ping()).toBe(true);
      await log.close();
      await log.close();
      expect(await log.ping()).toBe(false);
      await expectCode(log.append([{ key: null, value: 'late' }]), 'PV_LOG_CLOSED');
      await expectCode(log.appendTo(`${log.topic}-dlq`, [{ key: null, value: 'late' }]), 'PV_LOG_CLOSED');
      await expectCode(log.endOffsets(), 'PV_LOG_CLOSED');
      await expectCode(log.readRange({ partition: 0, fromOffset: 0, toOffset: 0, onRecords: async () => {} }), 'PV_LOG_CLOSED');
      await expectCode(log.consume({ groupId: 'g', eachBatch: async () => {} }), 'PV_LOG_CLOSED');
    });

    it('close stops running consumers', async () => {
      await log.append([{ key: null, value: 'x' }]);
      const c = await collect(log, `g-${randomUUID()}`);
      await waitUntil(() => c.records.length >= 1, '1 record');
      await log.close();
      expect(c.revoked).toEqual([[0, 1, 2, 3]]);
      expect(c.consumer.assignment()).toEqual([]);
    });
  });
}
