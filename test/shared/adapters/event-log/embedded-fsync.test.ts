/**
 * How often the embedded log syncs (issue #13, "idle costs nothing"): one fdatasync per
 * partition per append, one per commit, concurrent calls grouped into the next write; and the
 * crash safety of the append-only offsets file.
 *
 * Syncs are counted by spying on FileHandle.prototype.sync/datasync; each call is recorded with
 * the file it synced (from /proc/self/fd), relative to the topic folder.
 */
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, realpath, rm, stat, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { isPlatformError } from '../../../../shared/core/errors.ts';
import type { Logger } from '../../../../shared/runtime/logger.ts';
import { silentLogger } from '../../../../shared/runtime/logger.ts';
import { GroupOffsets, OFFSETS_FILE } from '../../../../shared/adapters/event-log/embedded-groups.ts';
import {
  EmbeddedEventLog,
  partitionForKey,
  type EmbeddedEventLogOptions,
  type EventLog,
  type LogConsumer,
} from '../../../../shared/adapters/event-log/index.ts';

interface SyncCall {
  kind: 'sync' | 'datasync';
  /** Relative to the topic folder ('' for the folder itself). */
  file: string;
}

let dataDir: string;
let topic: string;
let calls: SyncCall[] = [];
/** While set, every sync waits for it (a write + sync "in flight"). */
let hold: Promise<void> | null = null;
let proto: FileHandle;
/** The unspied methods. */
let original: Pick<FileHandle, 'sync' | 'datasync'>;
const logs: EventLog[] = [];

beforeAll(async () => {
  const handle = await open(os.tmpdir(), 'r');
  proto = Object.getPrototypeOf(handle) as FileHandle;
  original = { sync: proto.sync, datasync: proto.datasync };
  await handle.close();
});

function fileOf(handle: FileHandle): string {
  try {
    return path.relative(path.join(dataDir, topic), readlinkSync(`/proc/self/fd/${handle.fd}`));
  } catch {
    return '?';
  }
}

beforeEach(async () => {
  dataDir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'pv-fsync-')));
  topic = `pv-${randomUUID()}`;
  calls = [];
  hold = null;
  for (const kind of ['sync', 'datasync'] as const) {
    vi.spyOn(proto, kind).mockImplementation(async function (this: FileHandle) {
      calls.push({ kind, file: fileOf(this) });
      if (hold !== null) await hold;
      return original[kind].call(this);
    });
  }
});

afterEach(async () => {
  hold = null;
  await Promise.all(logs.splice(0).map((l) => l.close()));
  vi.restoreAllMocks();
  await rm(dataDir, { recursive: true, force: true });
});

function makeLog(options: Partial<EmbeddedEventLogOptions> = {}): EmbeddedEventLog {
  const log = new EmbeddedEventLog({ dataDir, topic, partitions: 1, ...options });
  logs.push(log);
  return log;
}

/** Opens the topic, then forgets the syncs of opening it. */
async function opened(options: Partial<EmbeddedEventLogOptions> = {}): Promise<EmbeddedEventLog> {
  const log = makeLog(options);
  await log.ensureTopic();
  calls = [];
  return log;
}

function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger: Logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Resolves when `count` syncs have started. */
async function syncsStarted(count: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (calls.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${calls.length} of ${count} syncs started`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function gate(): { release: () => void } {
  let release!: () => void;
  hold = new Promise<void>((resolve) => (release = resolve));
  return {
    release: () => {
      hold = null;
      release();
    },
  };
}

const segment0 = (partition: number): string => path.join(String(partition), '00000000000000000000.log');
const offsetsFile = (): string => path.join(dataDir, topic, 'groups', OFFSETS_FILE);

async function consumer(log: EventLog, groupId = 'g'): Promise<LogConsumer> {
  const started = await log.consume({ groupId, eachBatch: async () => {} });
  calls = [];
  return started;
}

describe('EmbeddedEventLog fsync policy', () => {
  describe('appends', () => {
    it('one append of N records to one partition costs one fdatasync of its segment and no folder fsync', async () => {
      const log = await opened({ partitions: 4 });
      await log.append(Array.from({ length: 100 }, (_, i) => ({ key: 'visitor-1', value: `v${i}` })));
      expect(calls).toEqual([{ kind: 'datasync', file: segment0(partitionForKey('visitor-1', 4)) }]);
    });

    it('an append spread over partitions costs one fdatasync per partition', async () => {
      const log = await opened({ partitions: 4 });
      const keys = Array.from({ length: 40 }, (_, i) => `visitor-${i}`);
      await log.append(keys.map((key) => ({ key, value: 'x' })));
      const partitions = new Set(keys.map((key) => partitionForKey(key, 4)));
      expect(partitions.size).toBeGreaterThan(1);
      expect(calls.filter((c) => c.kind === 'sync')).toEqual([]);
      expect(calls.map((c) => c.file).sort()).toEqual([...partitions].map(segment0).sort());
    });

    it('a segment roll adds one folder fsync (the new segment file), and one fdatasync per segment written', async () => {
      const log = await opened({ segmentBytes: 1024 });
      await log.append(Array.from({ length: 12 }, (_, i) => ({ key: 'k', value: `value-${i}-${'x'.repeat(60)}` })));
      const segments = (await readdir(path.join(dataDir, topic, '0'))).sort();
      expect(segments).toHaveLength(2);
      expect(calls).toEqual([
        { kind: 'datasync', file: path.join('0', segments[0]!) },
        { kind: 'sync', file: '0' },
        { kind: 'datasync', file: path.join('0', segments[1]!) },
      ]);
    });

    it('appends arriving while a write + sync is in flight are grouped into the next single write + sync', async () => {
      const log = await opened({ partitions: 2 });
      const writes = vi.spyOn(proto, 'write');
      const { release } = gate();
      const first = log.append([{ key: 'k', value: 'first' }]);
      await syncsStarted(1);
      const grouped = Array.from({ length: 20 }, (_, call) =>
        log.append(Array.from({ length: 3 }, (_, i) => ({ key: 'k', value: `${call}-${i}` }))),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(calls).toHaveLength(1);
      release();
      await Promise.all([first, ...grouped]);
      const partition = partitionForKey('k', 2);
      expect(calls).toEqual([
        { kind: 'datasync', file: segment0(partition) },
        { kind: 'datasync', file: segment0(partition) },
      ]);
      expect(writes).toHaveBeenCalledTimes(2);
      // Each call's records stay consecutive, in call order.
      const values: string[] = [];
      await log.readRange({
        partition,
        fromOffset: 0,
        toOffset: 61,
        onRecords: async (records) => void values.push(...records.map((r) => r.value.toString())),
      });
      expect(values).toEqual(['first', ...Array.from({ length: 20 }, (_, c) => [0, 1, 2].map((i) => `${c}-${i}`)).flat()]);
    });

    it('a grouped call resolves only after the sync, and rejects when its partition failed', async () => {
      const log = await opened({ partitions: 4 });
      const failing = partitionForKey('bad', 4);
      const good = [...Array(50).keys()].map((i) => `good-${i}`).find((key) => partitionForKey(key, 4) !== failing)!;
      let failOnce = true;
      vi.mocked(proto.datasync).mockImplementation(async function (this: FileHandle) {
        const file = fileOf(this);
        calls.push({ kind: 'datasync', file });
        if (failOnce && file === segment0(failing)) {
          failOnce = false;
          throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
        }
        return original.datasync.call(this);
      });
      const results = await Promise.allSettled([
        log.append([{ key: good, value: 'a' }]),
        log.append([{ key: 'bad', value: 'b' }]),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
      const reason = (results[1] as PromiseRejectedResult).reason as unknown;
      expect(isPlatformError(reason, 'PV_LOG_UNAVAILABLE')).toBe(true);
      const ends = await log.endOffsets();
      expect(ends.get(partitionForKey(good, 4))).toBe(1);
      expect(ends.get(failing)).toBe(0);
      await log.append([{ key: 'bad', value: 'b2' }]);
      expect((await log.endOffsets()).get(failing)).toBe(1);
    });
  });

  describe('commits', () => {
    it('one commit costs one fdatasync of the offsets file', async () => {
      const log = await opened({ partitions: 2 });
      const member = await consumer(log);
      await member.commit(new Map([[0, 3]]));
      expect(calls).toEqual([{ kind: 'datasync', file: path.join('groups', OFFSETS_FILE) }]);
      await member.commit(new Map([[1, 5]]));
      expect(calls).toHaveLength(2);
      expect(await log.committedOffsets('g')).toEqual(new Map([[0, 3], [1, 5]]));
    });

    it('commits arriving while one is in flight are grouped into the next single write + sync', async () => {
      const log = await opened({ partitions: 2 });
      const a = await consumer(log, 'a');
      const b = await consumer(log, 'b');
      const { release } = gate();
      const first = a.commit(new Map([[0, 1]]));
      await syncsStarted(1);
      const more = [
        a.commit(new Map([[0, 2]])),
        b.commit(new Map([[1, 9]])),
        a.commit(new Map([[1, 4]])),
        a.commit(new Map([[0, 5]])),
      ];
      release();
      await Promise.all([first, ...more]);
      expect(calls).toHaveLength(2);
      expect(await log.committedOffsets('a')).toEqual(new Map([[0, 5], [1, 4]]));
      expect(await log.committedOffsets('b')).toEqual(new Map([[1, 9]]));
      await a.stop();
      await b.stop();
      await log.close();
      const reopened = makeLog({ partitions: 2 });
      expect(await reopened.committedOffsets('a')).toEqual(new Map([[0, 5], [1, 4]]));
      expect(await reopened.committedOffsets('b')).toEqual(new Map([[1, 9]]));
    });
  });

  describe('offsets file crash safety', () => {
    async function commitTwice(): Promise<void> {
      const log = await opened();
      const member = await consumer(log);
      await member.commit(new Map([[0, 3]]));
      await member.commit(new Map([[0, 7]]));
      await member.stop();
      await log.close();
    }

    it('a torn last record is dropped on reopen: the previous commit holds, and later commits persist', async () => {
      await commitTwice();
      const size = (await stat(offsetsFile())).size;
      await truncate(offsetsFile(), size - 3);

      const { logger, lines } = capturingLogger();
      const log = makeLog({ logger });
      expect(await log.committedOffsets('g')).toEqual(new Map([[0, 3]]));
      expect(lines.some((l) => l['msg'] === 'dropping a torn offsets record (crash during a commit)' && l['level'] === 40)).toBe(true);
      const member = await log.consume({ groupId: 'g', eachBatch: async () => {} });
      await member.commit(new Map([[0, 9]]));
      await member.stop();
      await log.close();
      expect(await makeLog().committedOffsets('g')).toEqual(new Map([[0, 9]]));
    });

    it('garbage or zeros after the last record are ignored', async () => {
      await commitTwice();
      await appendFile(offsetsFile(), Buffer.from('\u0000\u0000\u0000\u0040garbage, not a record'));
      const first = makeLog();
      expect(await first.committedOffsets('g')).toEqual(new Map([[0, 7]]));
      await first.close();
      logs.splice(0);
      await appendFile(offsetsFile(), Buffer.alloc(512));
      expect(await makeLog().committedOffsets('g')).toEqual(new Map([[0, 7]]));
    });

    it('a damaged record followed by a later commit rejects the open with PV_LOG_CORRUPT', async () => {
      await commitTwice();
      const bytes = await readFile(offsetsFile());
      // Records: the snapshot written on open, then commit 3, then commit 7. Damage commit 3.
      const second = 8 + bytes.readUInt32BE(0);
      bytes[second + 12] = bytes[second + 12]! ^ 0xff;
      await writeFile(offsetsFile(), bytes);
      const err = await makeLog().ensureTopic().then(
        () => null,
        (e: unknown) => e,
      );
      expect(isPlatformError(err, 'PV_LOG_CORRUPT')).toBe(true);
    });

    it('open compacts the file to one record', async () => {
      const log = await opened({ partitions: 2 });
      const member = await consumer(log);
      for (let i = 1; i <= 50; i++) await member.commit(new Map([[i % 2, i]]));
      await member.stop();
      await log.close();
      const before = (await stat(offsetsFile())).size;
      const reopened = makeLog({ partitions: 2 });
      expect(await reopened.committedOffsets('g')).toEqual(new Map([[0, 50], [1, 49]]));
      const bytes = await readFile(offsetsFile());
      expect(bytes.length).toBeLessThan(before);
      expect(8 + bytes.readUInt32BE(0)).toBe(bytes.length);
    });

    it('per-group JSON files of earlier versions are migrated on open', async () => {
      await (await opened({ partitions: 2 })).close();
      logs.splice(0);
      const groups = path.join(dataDir, topic, 'groups');
      await rm(offsetsFile());
      await writeFile(
        path.join(groups, `${encodeURIComponent('old/group')}.json`),
        `${JSON.stringify({ version: 1, groupId: 'old/group', offsets: { 0: 12, 1: 4 } })}\n`,
      );
      const log = makeLog({ partitions: 2 });
      expect(await log.committedOffsets('old/group')).toEqual(new Map([[0, 12], [1, 4]]));
      expect(await readdir(groups)).toEqual([OFFSETS_FILE]);
      const member = await log.consume({ groupId: 'old/group', eachBatch: async () => {} });
      await member.commit(new Map([[1, 6]]));
      await member.stop();
      await log.close();
      expect(await makeLog({ partitions: 2 }).committedOffsets('old/group')).toEqual(new Map([[0, 12], [1, 6]]));
    });

    it('a legacy file left beside the offsets file (crash before its removal) does not override it', async () => {
      await commitTwice();
      await writeFile(
        path.join(dataDir, topic, 'groups', 'g.json'),
        `${JSON.stringify({ version: 1, groupId: 'g', offsets: { 0: 1 } })}\n`,
      );
      expect(await makeLog().committedOffsets('g')).toEqual(new Map([[0, 7]]));
    });
  });

  describe('GroupOffsets', () => {
    it('compacts the file after a commit once it passes compactBytes, keeping every group', async () => {
      const dir = path.join(dataDir, 'groups');
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const groups = new GroupOffsets(dir, silentLogger, 300);
      await groups.open();
      for (let i = 0; i < 100; i++) await groups.commit(i % 3 === 0 ? 'x' : 'y', new Map([[i % 4, i]]));
      expect((await stat(path.join(dir, OFFSETS_FILE))).size).toBeLessThan(300 + 100);
      await groups.close();
      expect((await readdir(dir)).filter((name) => name.includes('.tmp-'))).toEqual([]);
      const reopened = new GroupOffsets(dir, silentLogger, 300);
      await reopened.open();
      expect(await reopened.committed('x')).toEqual(new Map([[0, 96], [1, 93], [2, 90], [3, 99]]));
      expect(await reopened.committed('y')).toEqual(new Map([[0, 92], [1, 97], [2, 98], [3, 95]]));
      await reopened.close();
    });
  });
});
