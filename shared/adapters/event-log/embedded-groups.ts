/**
 * Committed offsets of the embedded log's consumer groups: one append-only file per topic,
 * `<topic>/groups/offsets.log`, cached in memory.
 *
 * Each write is one record: a frame (length u32, CRC-32 u32, payload) whose payload is the
 * UTF-8 JSON `{"groups":{"<groupId>":{"<partition>":<offset>}}}` holding the full committed
 * offsets of every group it names. A commit costs one positional write + fdatasync and
 * resolves only after it; commits that arrive while a write is in flight go together into the
 * next one (group commit).
 *
 * On open the file is replayed (a record replaces the offsets of the groups it names), a torn
 * last record (a crash during its write) is dropped, and the file is compacted to one record:
 * tmp file, fdatasync, rename, folder fsync. A bad record followed by a valid one had been
 * acknowledged (writes are synced one after the other): PV_LOG_CORRUPT. The file is compacted
 * the same way after a commit once it outgrows `compactBytes`.
 *
 * Earlier versions kept one JSON file per group (`<urlencoded groupId>.json`, written
 * atomically). Open reads them, folds them into the compacted file and then deletes them.
 */
import path from 'node:path';
import { open, readdir, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { PlatformError } from '../../core/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { FRAME_HEADER_BYTES, crc32 } from './embedded-codec.ts';
import { closedError, corrupt, errnoCode, fsError, fsyncDir, tmpFileFor, writeFully } from './embedded-files.ts';

/** The offsets file, in the topic's groups folder. */
export const OFFSETS_FILE = 'offsets.log';
/** The offsets file is compacted after a commit once it is larger than this. */
export const OFFSETS_COMPACT_BYTES = 1024 * 1024;
/** Per-group files of earlier versions. */
const LEGACY_SUFFIX = '.json';

type Offsets = Map<number, number>;

interface PendingCommit {
  groupId: string;
  offsets: Offsets;
  resolve: () => void;
  reject: (err: unknown) => void;
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

function encodeRecord(groups: ReadonlyMap<string, Offsets>): Buffer {
  const body = Object.fromEntries(
    [...groups].map(([groupId, offsets]) => [groupId, Object.fromEntries([...offsets].sort((a, b) => a[0] - b[0]))]),
  );
  const payload = Buffer.from(JSON.stringify({ groups: body }), 'utf8');
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32(payload), 4);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{"<partition>": offset}` → Map; null when malformed. */
function parseOffsets(value: unknown): Offsets | null {
  if (!isObject(value)) return null;
  const offsets: Offsets = new Map();
  for (const [partition, offset] of Object.entries(value)) {
    const id = Number(partition);
    if (!Number.isInteger(id) || id < 0 || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      return null;
    }
    offsets.set(id, offset);
  }
  return offsets;
}

/** The record at `pos` and where it ends; null when there is no valid record there. */
function decodeRecord(buf: Buffer, pos: number): { groups: Map<string, Offsets>; end: number } | null {
  if (pos + FRAME_HEADER_BYTES > buf.length) return null;
  const length = buf.readUInt32BE(pos);
  const end = pos + FRAME_HEADER_BYTES + length;
  if (length < 2 || end > buf.length) return null;
  const payload = buf.subarray(pos + FRAME_HEADER_BYTES, end);
  if (crc32(payload) !== buf.readUInt32BE(pos + 4)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return null;
  }
  if (!isObject(parsed) || !isObject(parsed['groups'])) return null;
  const groups = new Map<string, Offsets>();
  for (const [groupId, value] of Object.entries(parsed['groups'])) {
    const offsets = parseOffsets(value);
    if (offsets === null) return null;
    groups.set(groupId, offsets);
  }
  return { groups, end };
}

// ---------------------------------------------------------------------------------------------
// The offsets of a topic's groups
// ---------------------------------------------------------------------------------------------

export class GroupOffsets {
  private readonly cache = new Map<string, Offsets>();
  private readonly file: string;
  /** Append handle of the offsets file; null before open and after close. */
  private handle: FileHandle | null = null;
  /** Bytes of valid records in the file: the next record is written there. */
  private size = 0;
  private pending: PendingCommit[] = [];
  private chain: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private closed = false;
  /** Set when a failed write could not be undone; commits are then refused until reopen. */
  private failed: PlatformError | null = null;
  /** A compaction renamed the file but has not fsynced the folder yet. */
  private dirSyncPending = false;

  /** `dir`: the topic's groups folder (it exists). */
  constructor(
    readonly dir: string,
    private readonly logger: Logger,
    private readonly compactBytes: number = OFFSETS_COMPACT_BYTES,
  ) {
    this.file = path.join(dir, OFFSETS_FILE);
  }

  /** Loads the committed offsets (legacy files, then the offsets file) and compacts the file. */
  async open(): Promise<void> {
    const legacyFiles = await this.readLegacyFiles();
    await this.replay();
    await this.compact();
    for (const file of legacyFiles) {
      try {
        await unlink(file);
      } catch (err) {
        // Harmless: the offsets file, read after it, has every group the legacy file has.
        if (errnoCode(err) !== 'ENOENT') this.logger.warn({ err, file }, 'could not remove a migrated group file');
      }
    }
  }

  /** Reads the per-group JSON files of earlier versions into the cache; returns their paths. */
  private async readLegacyFiles(): Promise<string[]> {
    const files: string[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      if (!name.endsWith(LEGACY_SUFFIX) || name.includes('.tmp-')) continue;
      const file = path.join(this.dir, name);
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(file, 'utf8'));
      } catch (err) {
        if (err instanceof SyntaxError) throw corrupt(`${file} is not valid JSON`, { file });
        throw fsError(err, `reading ${file}`);
      }
      const body = isObject(parsed) ? parsed : {};
      const groupId =
        typeof body['groupId'] === 'string' ? body['groupId'] : decodeURIComponent(name.slice(0, -LEGACY_SUFFIX.length));
      const offsets: Offsets = new Map();
      for (const [partition, offset] of Object.entries(isObject(body['offsets']) ? body['offsets'] : {})) {
        if (typeof offset === 'number') offsets.set(Number(partition), offset);
      }
      this.cache.set(groupId, offsets);
      files.push(file);
    }
    return files;
  }

  /** Applies the offsets file's records over the cache; drops a torn last record. */
  private async replay(): Promise<void> {
    let buf: Buffer;
    try {
      buf = await readFile(this.file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw fsError(err, `reading ${this.file}`);
    }
    let pos = 0;
    for (let record = decodeRecord(buf, 0); record !== null; record = decodeRecord(buf, pos)) {
      for (const [groupId, offsets] of record.groups) this.cache.set(groupId, offsets);
      pos = record.end;
    }
    if (pos === buf.length) return;
    // Each record is written and synced before the next one starts: a valid record behind the
    // bad one proves the bad one had been acknowledged. Otherwise it is a torn last write.
    for (let q = pos + 1; q + FRAME_HEADER_BYTES < buf.length; q++) {
      if (decodeRecord(buf, q) !== null) {
        throw corrupt(`bad record in ${this.file} followed by a later commit (not a torn tail)`, {
          file: this.file,
          position: pos,
        });
      }
    }
    this.logger.warn(
      { file: this.file, position: pos, droppedBytes: buf.length - pos },
      'dropping a torn offsets record (crash during a commit)',
    );
  }

  /** Rewrites the file as one record of every group: tmp file, fdatasync, rename, folder fsync. */
  private async compact(): Promise<void> {
    const frame = encodeRecord(this.cache);
    const tmp = tmpFileFor(this.file);
    const handle = await open(tmp, 'wx');
    try {
      await writeFully(handle, frame, 0);
      await handle.datasync();
      await rename(tmp, this.file);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    // The renamed handle is the offsets file now: commits append to it.
    const previous = this.handle;
    this.handle = handle;
    this.size = frame.length;
    this.dirSyncPending = true;
    await previous?.close().catch(() => undefined);
    await this.syncDirIfPending();
  }

  private async syncDirIfPending(): Promise<void> {
    if (!this.dirSyncPending) return;
    await fsyncDir(this.dir);
    this.dirSyncPending = false;
  }

  committed(groupId: string): Promise<Map<number, number>> {
    return Promise.resolve(new Map(this.cache.get(groupId)));
  }

  /**
   * Sets `offsets` over the group's committed ones, after its earlier commits; resolves once
   * durable. The caller validates them.
   */
  commit(groupId: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ groupId, offsets: new Map(offsets), resolve, reject });
      if (!this.flushQueued) {
        this.flushQueued = true;
        this.chain = this.chain.then(() => this.flush());
      }
    });
  }

  /** Writes every pending commit as one record. Never rejects. */
  private async flush(): Promise<void> {
    this.flushQueued = false;
    const batch = this.pending;
    this.pending = [];
    const next = new Map<string, Offsets>();
    for (const commit of batch) {
      let offsets = next.get(commit.groupId);
      if (offsets === undefined) next.set(commit.groupId, (offsets = new Map(this.cache.get(commit.groupId))));
      for (const [partition, offset] of commit.offsets) offsets.set(partition, offset);
    }
    try {
      await this.write(encodeRecord(next));
    } catch (err) {
      for (const commit of batch) commit.reject(fsError(err, `committing offsets of group ${commit.groupId}`));
      return;
    }
    for (const [groupId, offsets] of next) this.cache.set(groupId, offsets);
    for (const commit of batch) commit.resolve();
    if (this.size > this.compactBytes && !this.closed) {
      try {
        await this.compact();
      } catch (err) {
        this.logger.warn({ err }, 'could not compact the offsets file; retrying after the next commit');
      }
    }
  }

  /** One positional write + fdatasync; a failed one is truncated back. */
  private async write(frame: Buffer): Promise<void> {
    if (this.failed !== null) throw this.failed;
    const handle = this.handle;
    if (handle === null) throw closedError();
    try {
      await writeFully(handle, frame, this.size);
      await handle.datasync();
    } catch (err) {
      try {
        await handle.truncate(this.size);
      } catch (truncateErr) {
        this.failed = new PlatformError(
          'PV_LOG_UNAVAILABLE',
          `embedded log ${this.dir} failed an offsets commit and could not undo it; reopen it to recover`,
          { cause: truncateErr, retriable: false },
        );
        this.logger.error({ err: truncateErr }, 'could not undo a failed offsets commit; commits are disabled');
      }
      throw err;
    }
    this.size += frame.length;
    // Only after a compaction whose folder fsync failed.
    await this.syncDirIfPending();
  }

  /** Waits for the commits in flight, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }
}
