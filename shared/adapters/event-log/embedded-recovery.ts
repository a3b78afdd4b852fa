/**
 * Opening a topic folder of the embedded log, and recovery.
 *
 * On open every segment is scanned (CRC, magic, offset sequence) to rebuild the in-memory sparse
 * index. A bad frame in the last segment that no later write follows (each frame's write starts
 * at offset - writeIndex) is a torn tail (crash mid-write): it is truncated and logged. Anything
 * else is PV_LOG_CORRUPT: a later write proves the damaged one had been acknowledged.
 * See docs/event-log.md.
 */
import path from 'node:path';
import { mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../../runtime/logger.ts';
import {
  FRAME_HEADER_BYTES,
  FrameReader,
  MAGIC,
  MIN_PAYLOAD_BYTES,
  NEED_MORE,
  crc32,
  readU64,
  type FrameProblem,
} from './embedded-codec.ts';
import { corrupt, errnoCode, fsError, fsyncDir, writeFileAtomic } from './embedded-files.ts';
import { PartitionLog, Segment, segmentFileName } from './embedded-segment.ts';

/** What loading needs of the topic store. */
export interface RecoveryTarget {
  readonly dir: string;
  readonly groupsDir: string;
  /** Filled by `loadTopic`, in partition order. */
  readonly partitions: PartitionLog[];
  /** `partitions`: the partition count of a new topic (an existing one keeps its own). */
  readonly options: { readonly partitions: number };
  readonly logger: Logger;
}

/**
 * Opens a topic folder: reads topic.json (writes it for a new topic), removes leftovers of
 * interrupted atomic writes and opens every partition, pushing each into `store.partitions`
 * as it goes, so the store can close the handles of those opened when a later one fails.
 */
export async function loadTopic(store: RecoveryTarget): Promise<void> {
  const metaFile = path.join(store.dir, 'topic.json');
  let partitions = store.options.partitions;
  let meta: { version?: unknown; partitions?: unknown } | null = null;
  try {
    meta = JSON.parse(await readFile(metaFile, 'utf8')) as { version?: unknown; partitions?: unknown };
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') {
      throw err instanceof SyntaxError
        ? corrupt(`${metaFile} is not valid JSON`, { file: metaFile })
        : fsError(err, `reading ${metaFile}`);
    }
  }
  if (meta === null) {
    await writeFileAtomic(metaFile, `${JSON.stringify({ version: 1, partitions })}\n`);
  } else {
    const stored = meta.partitions;
    if (typeof stored !== 'number' || !Number.isInteger(stored) || stored < 1) {
      throw corrupt(`${metaFile} has no valid partition count`, { file: metaFile });
    }
    if (stored !== partitions) {
      store.logger.warn({ stored, requested: partitions }, 'topic exists with another partition count; keeping it');
    }
    partitions = stored;
  }
  // New folders' entries are made durable with one fsync of the topic folder, below.
  let created = (await mkdir(store.groupsDir, { recursive: true })) !== undefined;
  // Leftovers of atomic writes interrupted by a crash.
  for (const dir of [store.dir, store.groupsDir]) {
    for (const name of await readdir(dir)) {
      if (name.includes('.tmp-')) await rm(path.join(dir, name), { force: true });
    }
  }
  for (let id = 0; id < partitions; id++) {
    const partition = new PartitionLog(id, path.join(store.dir, String(id)));
    store.partitions.push(partition);
    if (await loadPartition(partition, store.logger)) created = true;
  }
  if (created) await fsyncDir(store.dir);
}

/** Opens one partition; returns whether its folder was created. */
async function loadPartition(partition: PartitionLog, logger: Logger): Promise<boolean> {
  const created = (await mkdir(partition.dir, { recursive: true })) !== undefined;
  const bases = (await readdir(partition.dir))
    .filter((name) => /^\d{20}\.log$/.test(name))
    .map((name) => Number(name.slice(0, 20)))
    .sort((a, b) => a - b);
  if (bases.length === 0) {
    const segment = new Segment(0, path.join(partition.dir, segmentFileName(0)));
    partition.handle = await open(segment.file, 'wx+');
    await fsyncDir(partition.dir);
    partition.segments.push(segment);
    return created;
  }
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i]!;
    const previous = partition.segments[partition.segments.length - 1];
    if (previous !== undefined && previous.endOffset !== base) {
      throw corrupt(`segment ${segmentFileName(base)} does not follow the previous one`, {
        partition: partition.id,
        expectedBase: previous.endOffset,
        base,
      });
    }
    const segment = new Segment(base, path.join(partition.dir, segmentFileName(base)));
    const isLast = i === bases.length - 1;
    const handle = await open(segment.file, isLast ? 'r+' : 'r');
    try {
      await scanSegment(partition, segment, handle, isLast, logger);
    } catch (err) {
      await handle.close();
      throw err;
    }
    partition.segments.push(segment);
    if (isLast) partition.handle = handle;
    else await handle.close();
  }
  return created;
}

/** Rebuilds the index of one segment; recovers a torn tail of the last one. */
async function scanSegment(
  partition: PartitionLog,
  segment: Segment,
  handle: FileHandle,
  isLast: boolean,
  logger: Logger,
): Promise<void> {
  const fileSize = (await handle.stat()).size;
  const reader = new FrameReader(handle, 0, () => fileSize);
  let expected = segment.baseOffset;
  let problem: FrameProblem | null = null;
  for (;;) {
    const parsed = reader.parse();
    if (parsed === NEED_MORE) {
      const more = await reader.refill();
      if (more === true) continue;
      if (more === 'truncated') problem = 'truncated';
      break;
    }
    if (typeof parsed !== 'number') {
      problem = parsed;
      break;
    }
    const buf = reader.buffer;
    const offset = readU64(buf, reader.payloadStart + 2);
    if (offset !== expected) {
      throw corrupt(`unexpected offset ${offset} (expected ${expected})`, {
        partition: partition.id,
        file: segment.file,
        position: reader.pos,
      });
    }
    segment.track(offset, reader.pos, readU64(buf, reader.payloadStart + 10));
    reader.advance(parsed);
    expected++;
  }
  segment.size = reader.pos;
  if (problem === null) return;
  const details = { partition: partition.id, file: segment.file, position: reader.pos, problem };
  if (!isLast) throw corrupt(`bad frame (${problem}) in a sealed segment`, details);
  await recoverTail(handle, segment, fileSize, expected, details, logger);
}

/**
 * A bad frame at `segment.size` (offset `expected`) of the last segment. Writes are fsync'ed
 * one after the other, so a valid frame behind it whose write started after `expected`
 * (offset - writeIndex > expected) proves the damaged write had been acknowledged:
 * PV_LOG_CORRUPT. Otherwise the damage is within the last write, a torn tail (crash during
 * the write, never acknowledged): it is truncated.
 */
async function recoverTail(
  handle: FileHandle,
  segment: Segment,
  fileSize: number,
  expected: number,
  details: Record<string, unknown>,
  logger: Logger,
): Promise<void> {
  const start = segment.size;
  const tail = Buffer.allocUnsafe(fileSize - start);
  let filled = 0;
  while (filled < tail.length) {
    const { bytesRead } = await handle.read(tail, filled, tail.length - filled, start + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  const maxOffset = expected + Math.ceil(tail.length / (FRAME_HEADER_BYTES + MIN_PAYLOAD_BYTES));
  let framesAfter = 0;
  let laterWrite = false;
  let q = 1;
  while (q + FRAME_HEADER_BYTES + MIN_PAYLOAD_BYTES <= filled) {
    const length = tail.readUInt32BE(q);
    const p = q + FRAME_HEADER_BYTES;
    if (
      length >= MIN_PAYLOAD_BYTES &&
      p + length <= filled &&
      tail[p] === MAGIC &&
      readU64(tail, p + 2) >= expected &&
      readU64(tail, p + 2) <= maxOffset &&
      crc32(tail.subarray(p, p + length)) === tail.readUInt32BE(q + 4)
    ) {
      framesAfter++;
      if (readU64(tail, p + 2) - tail.readUInt32BE(p + 18) > expected) laterWrite = true;
      q = p + length;
    } else {
      q++;
    }
  }
  if (laterWrite) {
    throw corrupt('bad frame followed by a later write (not a torn tail)', { ...details, validFramesAfter: framesAfter });
  }
  logger.warn(
    { ...details, truncatedBytes: fileSize - start, endOffset: segment.endOffset },
    'truncating a torn tail (crash during a write)',
  );
  await handle.truncate(start);
  await handle.datasync();
}
