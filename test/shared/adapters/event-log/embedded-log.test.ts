import { randomUUID } from 'node:crypto';
import { appendFile, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import kafkajs from 'kafkajs';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPlatformError, type ErrorCode } from '../../../../shared/core/errors.ts';
import type { Logger } from '../../../../shared/runtime/logger.ts';
import {
  EmbeddedEventLog,
  partitionForKey,
  type EmbeddedEventLogOptions,
  type EventLog,
  type LogRecord,
} from '../../../../shared/adapters/event-log/index.ts';

let dataDir: string;
let topic: string;
const open: EventLog[] = [];

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'pv-embedded-'));
  topic = `pv-${randomUUID()}`;
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
  await rm(dataDir, { recursive: true, force: true });
});

function makeLog(options: Partial<EmbeddedEventLogOptions> = {}): EmbeddedEventLog {
  const log = new EmbeddedEventLog({ dataDir, topic, partitions: 1, ...options });
  open.push(log);
  return log;
}

/** A pino logger whose lines are kept in memory. */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger: Logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

function segmentDir(partition = 0): string {
  return path.join(dataDir, topic, String(partition));
}

async function segmentFiles(partition = 0): Promise<string[]> {
  return (await readdir(segmentDir(partition))).filter((f) => f.endsWith('.log')).sort();
}

async function lastSegment(partition = 0): Promise<string> {
  const files = await segmentFiles(partition);
  return path.join(segmentDir(partition), files[files.length - 1]!);
}

/** Start positions of the frames of a segment file (length u32 + crc u32 + payload). */
function framePositions(file: Buffer): number[] {
  const positions: number[] = [];
  for (let p = 0; p + 8 <= file.length; p += 8 + file.readUInt32BE(p)) positions.push(p);
  return positions;
}

async function flipByte(file: string, position: number): Promise<void> {
  const bytes = await readFile(file);
  bytes[position] = bytes[position]! ^ 0xff;
  await writeFile(file, bytes);
}

async function readAll(log: EventLog, partition = 0): Promise<LogRecord[]> {
  const [start, end] = await Promise.all([log.startOffsets(), log.endOffsets()]);
  const records: LogRecord[] = [];
  await log.readRange({
    partition,
    fromOffset: start.get(partition)!,
    toOffset: end.get(partition)!,
    onRecords: async (chunk) => {
      records.push(...chunk);
    },
  });
  return records;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await rejection(promise);
  expect(isPlatformError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

async function appendEach(log: EventLog, values: string[]): Promise<void> {
  for (const value of values) await log.append([{ key: 'k', value }]);
}

describe('EmbeddedEventLog', () => {
  describe('restart', () => {
    it('close and reopen give the same records, offsets and committed offsets', async () => {
      const first = makeLog({ partitions: 3 });
      await first.append(
        Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}`, headers: { i: String(i) } })),
      );
      await first.append([{ key: null, value: Buffer.from([0, 255, 1]) }]);
      const consumer = await first.consume({ groupId: 'g', eachBatch: async () => {} });
      await consumer.commit(new Map([[0, 2], [2, 1]]));
      const endBefore = await first.endOffsets();
      const before = [...(await readAll(first, 0)), ...(await readAll(first, 1)), ...(await readAll(first, 2))];
      await first.close();

      const second = makeLog({ partitions: 3 });
      expect(await second.endOffsets()).toEqual(endBefore);
      const after = [...(await readAll(second, 0)), ...(await readAll(second, 1)), ...(await readAll(second, 2))];
      expect(after).toEqual(before);
      expect(await second.committedOffsets('g')).toEqual(new Map([[0, 2], [2, 1]]));

      await second.append([{ key: 'k0', value: 'after-restart' }]);
      const partition = partitionForKey('k0', 3);
      expect((await second.endOffsets()).get(partition)).toBe(endBefore.get(partition)! + 1);
    });

    it('an existing topic keeps its partition count', async () => {
      await makeLog({ partitions: 2 }).ensureTopic();
      await open.pop()!.close();
      expect(await makeLog({ partitions: 8 }).partitionCount()).toBe(2);
    });

    it('segments roll at segmentBytes, are named by base offset and are read across', async () => {
      const log = makeLog({ segmentBytes: 1024 });
      await log.append(Array.from({ length: 100 }, (_, i) => ({ key: 'k', value: `value-${i}` })));
      await appendEach(log, ['x', 'y', 'z']);
      const files = await segmentFiles();
      expect(files.length).toBeGreaterThan(3);
      expect(files[0]).toBe('00000000000000000000.log');
      for (const file of files) expect(file).toMatch(/^\d{20}\.log$/);
      const records = await readAll(log);
      expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 103 }, (_, i) => i));
      await log.close();
      const reopened = makeLog({ segmentBytes: 1024 });
      expect((await readAll(reopened)).map((r) => r.value.toString())).toEqual(records.map((r) => r.value.toString()));
    });
  });

  describe('crash recovery', () => {
    it('truncates garbage bytes at the end of the last segment and logs it', async () => {
      const first = makeLog();
      await appendEach(first, ['a', 'b', 'c']);
      await first.close();
      await appendFile(await lastSegment(), Buffer.from('this is not a frame, just garbage \u0000\u0001\u0002 bytes'));

      const { logger, lines } = capturingLogger();
      const second = makeLog({ logger });
      expect((await readAll(second)).map((r) => r.value.toString())).toEqual(['a', 'b', 'c']);
      expect(lines.some((l) => l['msg'] === 'truncating a torn tail (crash during a write)' && l['level'] === 40)).toBe(true);
      await second.append([{ key: 'k', value: 'd' }]);
      await second.close();

      const third = makeLog();
      expect((await readAll(third)).map((r) => r.value.toString())).toEqual(['a', 'b', 'c', 'd']);
    });

    it('drops a half-written last record and a zero-filled tail', async () => {
      const first = makeLog();
      await appendEach(first, ['a', 'b', 'c']);
      await first.close();
      const file = await lastSegment();
      const size = (await readFile(file)).length;
      await truncate(file, size - 3);
      await appendFile(file, Buffer.alloc(4096));

      const second = makeLog();
      expect((await readAll(second)).map((r) => r.value.toString())).toEqual(['a', 'b']);
      expect((await second.endOffsets()).get(0)).toBe(2);
      await second.append([{ key: 'k', value: 'c2' }]);
      expect((await readAll(second)).map((r) => [r.offset, r.value.toString()])).toEqual([
        [0, 'a'],
        [1, 'b'],
        [2, 'c2'],
      ]);
    });

    it('damage inside the last write is treated as a torn write', async () => {
      const first = makeLog();
      await first.append([{ key: 'k', value: 'w1' }]);
      await first.append(['a', 'b', 'c', 'd'].map((value) => ({ key: 'k', value })));
      await first.close();
      const file = await lastSegment();
      const positions = framePositions(await readFile(file));
      await flipByte(file, positions[2]! + 20); // record 'b' (offset 2), inside the last write

      const second = makeLog();
      expect((await readAll(second)).map((r) => r.value.toString())).toEqual(['w1', 'a']);
    });

    it('rejects corruption in the middle of the last segment with PV_LOG_CORRUPT', async () => {
      const first = makeLog();
      await appendEach(first, ['a', 'b', 'c', 'd', 'e']);
      await first.close();
      const file = await lastSegment();
      const positions = framePositions(await readFile(file));
      await flipByte(file, positions[1]! + 30);

      const err = await rejection(makeLog().ensureTopic());
      expect(isPlatformError(err, 'PV_LOG_CORRUPT')).toBe(true);
      // Nothing was truncated.
      expect(framePositions(await readFile(file))).toHaveLength(5);
    });

    it('rejects a damaged last record of a write when a later write follows', async () => {
      const first = makeLog();
      await first.append(['a', 'b', 'c'].map((value) => ({ key: 'k', value })));
      await first.append(['d', 'e'].map((value) => ({ key: 'k', value })));
      await first.close();
      const file = await lastSegment();
      await flipByte(file, framePositions(await readFile(file))[2]! + 12); // 'c' (the last of write 1)
      await expectCode(makeLog().ensureTopic(), 'PV_LOG_CORRUPT');
    });

    it('rejects damage in a sealed segment with PV_LOG_CORRUPT', async () => {
      const first = makeLog({ segmentBytes: 1024 });
      await first.append(Array.from({ length: 60 }, (_, i) => ({ key: 'k', value: `value-${i}` })));
      await first.close();
      const files = await segmentFiles();
      expect(files.length).toBeGreaterThan(1);
      const sealed = path.join(segmentDir(), files[0]!);
      const size = (await readFile(sealed)).length;
      await truncate(sealed, size - 1);
      await expectCode(makeLog({ segmentBytes: 1024 }).ensureTopic(), 'PV_LOG_CORRUPT');
    });

    it('detects a record damaged on disk while open when reading it', async () => {
      const log = makeLog();
      await appendEach(log, ['a', 'b', 'c']);
      const file = await lastSegment();
      await flipByte(file, framePositions(await readFile(file))[1]! + 30);
      await expectCode(readAll(log), 'PV_LOG_CORRUPT');
    });
  });

  describe('retention', () => {
    it('deletes whole old segments, never the active one; reads below the start are out of range', async () => {
      let now = 1_000_000;
      const options = { segmentBytes: 1024, retentionMs: 60_000, now: () => now };
      const log = makeLog(options);
      await log.append(Array.from({ length: 50 }, (_, i) => ({ key: 'k', value: `old-${i}` })));
      const filesBefore = await segmentFiles();
      expect(filesBefore.length).toBeGreaterThan(2);
      expect(await log.applyRetention()).toBe(0);

      now += 60_001;
      expect(await log.applyRetention()).toBe(filesBefore.length - 1);
      const filesAfter = await segmentFiles();
      expect(filesAfter).toEqual([filesBefore[filesBefore.length - 1]]);
      const start = Number(filesAfter[0]!.slice(0, 20));
      expect(start).toBeGreaterThan(0);
      expect(await log.startOffsets()).toEqual(new Map([[0, start]]));
      expect(await log.endOffsets()).toEqual(new Map([[0, 50]]));

      await expectCode(
        log.readRange({ partition: 0, fromOffset: 0, toOffset: 50, onRecords: async () => {} }),
        'PV_OFFSET_OUT_OF_RANGE',
      );
      expect((await readAll(log)).map((r) => r.offset)).toEqual(Array.from({ length: 50 - start }, (_, i) => start + i));

      // A new group starts at the retained start.
      const seen: number[] = [];
      const consumer = await log.consume({
        groupId: 'fresh',
        eachBatch: async (batch) => {
          seen.push(...batch.records.map((r) => r.offset));
        },
      });
      await waitFor(() => seen.length === 50 - start);
      await consumer.stop();
      expect(seen[0]).toBe(start);

      await log.close();
      expect(await makeLog(options).startOffsets()).toEqual(new Map([[0, start]]));
    });

    it('runs when a segment rolls, and keeps everything with retentionMs -1', async () => {
      let now = 1_000_000;
      const kept = makeLog({ segmentBytes: 1024, now: () => now });
      await kept.append(Array.from({ length: 40 }, (_, i) => ({ key: 'k', value: `v-${i}` })));
      now += 365 * 24 * 3600 * 1000;
      await kept.append(Array.from({ length: 40 }, (_, i) => ({ key: 'k', value: `w-${i}` })));
      expect(await kept.applyRetention()).toBe(0);
      expect(await kept.startOffsets()).toEqual(new Map([[0, 0]]));
      await kept.close();
      await rm(path.join(dataDir, topic), { recursive: true });

      now = 1_000_000;
      const expiring = makeLog({ segmentBytes: 1024, retentionMs: 1000, now: () => now });
      await expiring.append(Array.from({ length: 40 }, (_, i) => ({ key: 'k', value: `v-${i}` })));
      now += 5000;
      await expiring.append(Array.from({ length: 40 }, (_, i) => ({ key: 'k', value: `w-${i}` })));
      expect((await expiring.startOffsets()).get(0)).toBeGreaterThan(0);
    });
  });

  describe('appends', () => {
    it('concurrent appends are serialized: each call gets consecutive offsets', async () => {
      const log = makeLog({ segmentBytes: 4096 });
      await Promise.all(
        Array.from({ length: 50 }, (_, call) =>
          log.append(Array.from({ length: 20 }, (_, i) => ({ key: 'same', value: `${call}-${i}` }))),
        ),
      );
      const records = await readAll(log);
      expect(records).toHaveLength(1000);
      expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      const byCall = new Map<string, number[]>();
      for (const record of records) {
        const [call] = record.value.toString().split('-');
        byCall.set(call!, [...(byCall.get(call!) ?? []), record.offset]);
      }
      expect(byCall.size).toBe(50);
      for (const offsets of byCall.values()) {
        expect(offsets).toHaveLength(20);
        expect(offsets[19]! - offsets[0]!).toBe(19);
      }
      await log.close();
      expect(await readAll(makeLog({ segmentBytes: 4096 }))).toHaveLength(1000);
    });

    it('keys map to the same partitions as Kafka (kafkajs DefaultPartitioner)', () => {
      const partitioner = kafkajs.Partitioners.DefaultPartitioner();
      const partitionMetadata = Array.from({ length: 6 }, (_, id) => ({ partitionId: id, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      for (const k of ['', 'a', 'ab', 'abc', 'abcd', 'visitor-42', 'ünïcode-✓', 'x'.repeat(101)]) {
        const expected = partitioner({ topic: 't', partitionMetadata, message: { key: k, value: '' }, partitionIndex: 0, replicas: [] } as never);
        expect(partitionForKey(k, 6), k).toBe(expected);
      }
    });

    it('rejects invalid options and topics naming the option', () => {
      expect(() => new EmbeddedEventLog({ dataDir, topic: '../escape' })).toThrow(/topic/);
      expect(() => new EmbeddedEventLog({ dataDir, topic, partitions: 0 })).toThrow(/'partitions'/);
      expect(() => new EmbeddedEventLog({ dataDir, topic, segmentBytes: 10 })).toThrow(/'segmentBytes'/);
      expect(() => new EmbeddedEventLog({ dataDir, topic, retentionMs: -5 })).toThrow(/'retentionMs'/);
    });
  });

  describe('sharing and locking', () => {
    it('two logs of one process on the same topic share one writer', async () => {
      const a = makeLog();
      const b = makeLog();
      await a.append([{ key: 'k', value: 'from-a' }]);
      await b.append([{ key: 'k', value: 'from-b' }]);
      expect((await readAll(a)).map((r) => r.value.toString())).toEqual(['from-a', 'from-b']);
      await a.close();
      await b.append([{ key: 'k', value: 'still-open' }]);
      expect(await readAll(b)).toHaveLength(3);
    });

    it('refuses a topic folder locked by another live process', async () => {
      await makeLog().ensureTopic();
      await open.pop()!.close();
      await writeFile(path.join(dataDir, topic, '.lock'), String(process.ppid));
      const err = await rejection(makeLog().ensureTopic());
      expect(isPlatformError(err, 'PV_LOG_UNAVAILABLE')).toBe(true);
      expect(String((err as Error).message)).toContain(String(process.ppid));
    });

    it('takes over the lock of a dead process', async () => {
      await makeLog().ensureTopic();
      await open.pop()!.close();
      await writeFile(path.join(dataDir, topic, '.lock'), '4194303');
      const log = makeLog();
      await log.append([{ key: null, value: 'ok' }]);
      expect(await readFile(path.join(dataDir, topic, '.lock'), 'utf8')).toBe(String(process.pid));
    });
  });

  describe('consumers', () => {
    it('are woken by an append rather than the poll timer', async () => {
      const log = makeLog({ pollIntervalMs: 30_000 });
      const seen: string[] = [];
      const consumer = await log.consume({
        groupId: 'g',
        eachBatch: async (batch) => {
          seen.push(...batch.records.map((r) => r.value.toString()));
        },
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      await log.append([{ key: null, value: 'wake' }]);
      await waitFor(() => seen.length === 1);
      expect(Date.now() - started).toBeLessThan(1000);
      await consumer.stop();
    });

    it('retry a failed batch, and stop awaits the in-flight batch', async () => {
      const log = makeLog();
      await log.append([{ key: null, value: 'a' }]);
      let calls = 0;
      let finished = false;
      const consumer = await log.consume({
        groupId: 'g',
        eachBatch: async () => {
          calls++;
          if (calls === 1) throw new Error('transient');
          await new Promise((resolve) => setTimeout(resolve, 200));
          finished = true;
        },
      });
      await waitFor(() => calls === 2);
      await consumer.stop();
      expect(finished).toBe(true);
    });

    it('allow one running member per group', async () => {
      const log = makeLog();
      const consumer = await log.consume({ groupId: 'g', eachBatch: async () => {} });
      await expectCode(log.consume({ groupId: 'g', eachBatch: async () => {} }), 'PV_CONFIG_INVALID');
      await consumer.stop();
      await (await log.consume({ groupId: 'g', eachBatch: async () => {} })).stop();
    });

    it('commit is durable: commits go to the topic\'s append-only offsets file', async () => {
      const log = makeLog({ partitions: 2 });
      const consumer = await log.consume({ groupId: 'group/with:odd chars', eachBatch: async () => {} });
      await consumer.commit(new Map([[0, 3]]));
      await consumer.commit(new Map([[1, 7]]));
      await consumer.stop();
      const groups = await readdir(path.join(dataDir, topic, 'groups'));
      expect(groups).toEqual(['offsets.log']);
      await log.close();
      expect(await makeLog({ partitions: 2 }).committedOffsets('group/with:odd chars')).toEqual(
        new Map([[0, 3], [1, 7]]),
      );
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
