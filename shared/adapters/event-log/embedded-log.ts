/**
 * EmbeddedEventLog: a durable, append-only, partitioned log on local disk (the default
 * event log; KafkaEventLog is the production one). No external dependencies.
 *
 * Layout (one folder per topic under `dataDir`):
 *
 *   <dataDir>/<topic>/topic.json                     {"version":1,"partitions":4}
 *   <dataDir>/<topic>/.lock                          pid of the owning process
 *   <dataDir>/<topic>/<partition>/<baseOffset>.log   segments, base offset zero-padded to 20 digits
 *   <dataDir>/<topic>/groups/<groupId>.json          committed offsets, written atomically
 *
 * Segment file format: a sequence of frames, each
 *
 *   length   u32 BE   bytes of payload
 *   crc32    u32 BE   CRC-32 (IEEE) of payload
 *   payload:
 *     magic      u8     1
 *     attributes u8     0 (reserved)
 *     offset     u64 BE absolute offset of the record
 *     timestamp  u64 BE append time, epoch ms
 *     writeIndex u32 BE position of the record in its write (one write = one fsync'ed batch)
 *     keyLength  i32 BE -1 = null key
 *     key        keyLength bytes
 *     headerCount u16 BE, then per header:
 *       nameLength u16 BE, name (UTF-8), valueLength u32 BE, value (UTF-8)
 *     value      the remaining bytes of the payload
 *
 * Durability: `append` writes each partition's frames with one positional write, then
 * fdatasync, and only then makes them visible (end offsets, readers, consumers) and resolves.
 * On open every segment is scanned (CRC, magic, offset sequence) to rebuild the in-memory sparse
 * index. A bad frame in the last segment that no later write follows (each frame's write starts
 * at offset - writeIndex) is a torn tail (crash mid-write): it is truncated and logged. Anything
 * else is PV_LOG_CORRUPT: a later write proves the damaged one had been acknowledged.
 * See docs/event-log.md.
 */
import path from 'node:path';
import zlib from 'node:zlib';
import { mkdir, open, readdir, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { PlatformError, isPlatformError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../runtime/logger.ts';
import type {
  ConsumeOptions,
  EventLog,
  LogBatch,
  LogConsumer,
  LogMessage,
  LogRecord,
  ReadRangeOptions,
} from './event-log.ts';

export interface EmbeddedEventLogOptions {
  /** Folder holding one sub-folder per topic. Created when missing. */
  dataDir: string;
  topic: string;
  /**
   * Partitions of a topic created by this log (also used for `appendTo` topics). An existing
   * topic keeps the count stored in its topic.json.
   * @default 4
   */
  partitions?: number;
  /**
   * Whole segments whose newest record is older than this are deleted (never the active one).
   * -1 keeps everything (the master dataset).
   * @default -1
   */
  retentionMs?: number;
  /**
   * A segment is rolled (a new file started) before it would grow past this size.
   * @default 67108864 (64 MiB)
   */
  segmentBytes?: number;
  /**
   * Fallback poll interval of consumers; appends in this process wake them at once.
   * @default 500
   */
  pollIntervalMs?: number;
  /**
   * How often retention runs (it also runs on open and whenever a segment is rolled).
   * @default 60000
   */
  retentionCheckIntervalMs?: number;
  /** Clock for record timestamps and retention (tests). @default Date.now */
  now?: () => number;
  /** @default silentLogger */
  logger?: Logger;
}

export const EMBEDDED_EVENT_LOG_DEFAULTS = {
  partitions: 4,
  retentionMs: -1,
  segmentBytes: 64 * 1024 * 1024,
  pollIntervalMs: 500,
  retentionCheckIntervalMs: 60_000,
} as const;

/** Records per `eachBatch` call and per `onRecords` chunk of `readRange`. */
export const EMBEDDED_MAX_BATCH_RECORDS = 10_000;
/** A consumer batch stops growing past this many bytes (at least one record is delivered). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** Largest accepted payload; larger messages are rejected by `append`. */
export const EMBEDDED_MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** One sparse-index entry per this many bytes of segment. */
const INDEX_INTERVAL_BYTES = 4096;
/** Bytes per read() when scanning or reading segments. */
const READ_CHUNK_BYTES = 1024 * 1024;
const FRAME_HEADER_BYTES = 8;
const MAGIC = 1;
/** magic + attributes + offset + timestamp + writeIndex + keyLength + headerCount */
const MIN_PAYLOAD_BYTES = 28;
const KEY_LENGTH_AT = 22;
const TWO_POW_32 = 2 ** 32;
const SEGMENT_SUFFIX = '.log';
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
const MAX_CONSUMER_BACKOFF_MS = 30_000;

interface ResolvedOptions {
  dataDir: string;
  partitions: number;
  retentionMs: number;
  segmentBytes: number;
  pollIntervalMs: number;
  retentionCheckIntervalMs: number;
  now: () => number;
  logger: Logger;
}

// ---------------------------------------------------------------------------------------------
// CRC-32 and the key hash
// ---------------------------------------------------------------------------------------------

let crcTable: Uint32Array | undefined;

function tableCrc32(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** zlib.crc32 exists from Node 20.15; older 20.x use the table. Both are CRC-32/IEEE. */
const crc32: (data: Uint8Array) => number =
  typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc32;

/**
 * Kafka's murmur2 (seed 0x9747b28c), so a key lands on the same partition here as with
 * the Kafka Java client and kafkajs's DefaultPartitioner.
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a key: positive murmur2 modulo the partition count (Kafka's rule). */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

// ---------------------------------------------------------------------------------------------
// Frame codec
// ---------------------------------------------------------------------------------------------

function writeU64(buf: Buffer, pos: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / TWO_POW_32), pos);
  buf.writeUInt32BE(n >>> 0, pos + 4);
}

function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * TWO_POW_32 + buf.readUInt32BE(pos + 4);
}

interface PreparedMessage {
  partition: number;
  key: Buffer | null;
  headers: Array<[Buffer, Buffer]>;
  value: Buffer;
  /** Frame size in bytes (header + payload). */
  size: number;
}

function prepareMessage(message: LogMessage, partition: number): PreparedMessage {
  const key = message.key === null ? null : Buffer.from(message.key, 'utf8');
  const value = typeof message.value === 'string' ? Buffer.from(message.value, 'utf8') : message.value;
  if (!Buffer.isBuffer(value)) throw new TypeError('LogMessage.value must be a Buffer or a string');
  const headers: Array<[Buffer, Buffer]> = [];
  let payload = MIN_PAYLOAD_BYTES + (key?.length ?? 0) + value.length;
  for (const [name, headerValue] of Object.entries(message.headers ?? {})) {
    if (typeof headerValue !== 'string') throw new TypeError(`header '${name}' must be a string`);
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(headerValue, 'utf8');
    if (n.length > 0xffff) throw new RangeError(`header name '${name.slice(0, 40)}…' is too long`);
    headers.push([n, v]);
    payload += 6 + n.length + v.length;
  }
  if (headers.length > 0xffff) throw new RangeError('too many headers');
  if (payload > EMBEDDED_MAX_RECORD_BYTES) {
    throw new PlatformError(
      'PV_EVENT_INVALID',
      `record of ${payload} bytes exceeds the embedded log's limit of ${EMBEDDED_MAX_RECORD_BYTES} bytes`,
    );
  }
  return { partition, key, headers, value, size: FRAME_HEADER_BYTES + payload };
}

/** Encodes one frame into `target` at `at`; returns the frame's size. */
function encodeFrame(
  target: Buffer,
  at: number,
  message: PreparedMessage,
  offset: number,
  timestamp: number,
  writeIndex: number,
): number {
  const payloadStart = at + FRAME_HEADER_BYTES;
  target.writeUInt32BE(message.size - FRAME_HEADER_BYTES, at);
  let p = payloadStart;
  target[p++] = MAGIC;
  target[p++] = 0;
  writeU64(target, p, offset);
  writeU64(target, p + 8, timestamp);
  target.writeUInt32BE(writeIndex, p + 16);
  p += 20;
  if (message.key === null) {
    target.writeInt32BE(-1, p);
    p += 4;
  } else {
    target.writeInt32BE(message.key.length, p);
    p += 4;
    p += message.key.copy(target, p);
  }
  target.writeUInt16BE(message.headers.length, p);
  p += 2;
  for (const [name, value] of message.headers) {
    target.writeUInt16BE(name.length, p);
    p += 2;
    p += name.copy(target, p);
    target.writeUInt32BE(value.length, p);
    p += 4;
    p += value.copy(target, p);
  }
  message.value.copy(target, p);
  target.writeUInt32BE(crc32(target.subarray(payloadStart, at + message.size)), at + 4);
  return message.size;
}

/** Decodes the payload at buf[start, end); values and keys are views of `buf`. */
function decodeRecord(buf: Buffer, start: number, end: number, partition: number): LogRecord {
  const offset = readU64(buf, start + 2);
  const timestamp = readU64(buf, start + 10);
  const keyLength = buf.readInt32BE(start + KEY_LENGTH_AT);
  let p = start + KEY_LENGTH_AT + 4;
  let key: Buffer | null = null;
  if (keyLength >= 0) {
    key = buf.subarray(p, p + keyLength);
    p += keyLength;
  }
  const headerCount = buf.readUInt16BE(p);
  p += 2;
  let headers: Record<string, string>;
  if (headerCount === 0) {
    headers = {};
  } else {
    const entries: Array<[string, string]> = [];
    for (let i = 0; i < headerCount; i++) {
      const nameLength = buf.readUInt16BE(p);
      const name = buf.toString('utf8', p + 2, p + 2 + nameLength);
      p += 2 + nameLength;
      const valueLength = buf.readUInt32BE(p);
      const value = buf.toString('utf8', p + 4, p + 4 + valueLength);
      p += 4 + valueLength;
      entries.push([name, value]);
    }
    headers = Object.fromEntries(entries);
  }
  if (p > end) throw new RangeError('record fields overrun the payload');
  return { partition, offset, key, value: buf.subarray(p, end), timestamp, headers };
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const RETRIABLE_FS_CODES = new Set(['ENOSPC', 'EDQUOT', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR', 'ETIMEDOUT']);

function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Converts an fs error into a PlatformError (PlatformErrors pass through). */
function fsError(err: unknown, what: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const code = errnoCode(err);
  return new PlatformError('PV_LOG_UNAVAILABLE', `embedded log: ${what} failed${code ? ` (${code})` : ''}`, {
    cause: err,
    retriable: code !== undefined && RETRIABLE_FS_CODES.has(code),
  });
}

function corrupt(message: string, details: Record<string, unknown>): PlatformError {
  return new PlatformError('PV_LOG_CORRUPT', `embedded log corrupt: ${message}`, { details });
}

function closedError(): PlatformError {
  return new PlatformError('PV_LOG_CLOSED', 'event log is closed');
}

function outOfRange(message: string, details: Record<string, unknown>): PlatformError {
  return new PlatformError('PV_OFFSET_OUT_OF_RANGE', message, { details });
}

// ---------------------------------------------------------------------------------------------
// Reading frames from a file
// ---------------------------------------------------------------------------------------------

type FrameProblem = 'truncated' | 'length' | 'crc' | 'magic';

const NEED_MORE = 0 as const;

/**
 * Buffered sequential frame reader over [pos, limit()) of one file. Each refill allocates a
 * fresh buffer, so records decoded from earlier buffers stay valid.
 */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  /** File position of buf[0]. */
  private bufStart = 0;
  /** File position of the next frame. */
  pos: number;
  /** Index in `buf` of the current frame's payload, valid after parse() returned a length. */
  payloadStart = 0;

  constructor(
    private readonly handle: FileHandle,
    startPos: number,
    private readonly limit: () => number,
  ) {
    this.pos = startPos;
    this.bufStart = startPos;
  }

  get buffer(): Buffer {
    return this.buf;
  }

  /**
   * Parses the frame at `pos` from the buffer: its payload length, NEED_MORE when the buffer
   * does not hold it completely, or a problem.
   */
  parse(): number | typeof NEED_MORE | FrameProblem {
    const i = this.pos - this.bufStart;
    const available = this.buf.length - i;
    if (available < FRAME_HEADER_BYTES) return NEED_MORE;
    const length = this.buf.readUInt32BE(i);
    if (length < MIN_PAYLOAD_BYTES || length > EMBEDDED_MAX_RECORD_BYTES) return 'length';
    if (available < FRAME_HEADER_BYTES + length) return NEED_MORE;
    const start = i + FRAME_HEADER_BYTES;
    if (crc32(this.buf.subarray(start, start + length)) !== this.buf.readUInt32BE(i + 4)) return 'crc';
    if (this.buf[start] !== MAGIC) return 'magic';
    this.payloadStart = start;
    return length;
  }

  /**
   * Reads more bytes so that the frame at `pos` can be parsed. Returns false when the limit
   * is reached (nothing more to read), 'truncated' when the frame runs past the limit.
   */
  async refill(): Promise<boolean | 'truncated'> {
    const limit = this.limit();
    if (this.pos >= limit) return false;
    const i = this.pos - this.bufStart;
    const have = Math.max(0, this.buf.length - i);
    let need = FRAME_HEADER_BYTES;
    if (have >= FRAME_HEADER_BYTES) {
      const length = this.buf.readUInt32BE(i);
      need = FRAME_HEADER_BYTES + Math.min(length, EMBEDDED_MAX_RECORD_BYTES);
    }
    if (this.pos + have >= limit) return 'truncated';
    if (this.pos + need > limit) need = limit - this.pos;
    const size = Math.min(Math.max(READ_CHUNK_BYTES, need), limit - this.pos);
    const next = Buffer.allocUnsafe(size);
    if (have > 0) this.buf.copy(next, 0, i, i + have);
    let filled = have;
    while (filled < size) {
      const { bytesRead } = await this.handle.read(next, filled, size - filled, this.pos + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.buf = filled === size ? next : next.subarray(0, filled);
    this.bufStart = this.pos;
    return filled > have ? true : 'truncated';
  }

  advance(payloadLength: number): void {
    this.pos += FRAME_HEADER_BYTES + payloadLength;
  }
}

// ---------------------------------------------------------------------------------------------
// Segments and partitions
// ---------------------------------------------------------------------------------------------

class Segment {
  /** Committed (fsync'ed) bytes; readers never look past it. */
  size = 0;
  /** Exclusive end offset of the records in this segment. */
  endOffset: number;
  /** Newest record timestamp; -Infinity when empty. */
  maxTimestamp = Number.NEGATIVE_INFINITY;
  /** Sparse index: offsets[i] starts at file position positions[i]. */
  private readonly indexOffsets: number[] = [];
  private readonly indexPositions: number[] = [];
  private lastIndexedPosition = Number.NEGATIVE_INFINITY;

  constructor(
    readonly baseOffset: number,
    readonly file: string,
  ) {
    this.endOffset = baseOffset;
  }

  /** Accounts for a record at `position` (called in file order). */
  track(offset: number, position: number, timestamp: number): void {
    if (position - this.lastIndexedPosition >= INDEX_INTERVAL_BYTES) {
      this.indexOffsets.push(offset);
      this.indexPositions.push(position);
      this.lastIndexedPosition = position;
    }
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    this.endOffset = offset + 1;
  }

  /** The indexed record at or before `offset` (the segment start when none). */
  lookup(offset: number): { offset: number; position: number } {
    let lo = 0;
    let hi = this.indexOffsets.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.indexOffsets[mid]! <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return { offset: this.baseOffset, position: 0 };
    return { offset: this.indexOffsets[found]!, position: this.indexPositions[found]! };
  }
}

class PartitionLog {
  readonly segments: Segment[] = [];
  /** Write handle of the active (last) segment. */
  handle: FileHandle | null = null;

  constructor(
    readonly id: number,
    readonly dir: string,
  ) {}

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  get startOffset(): number {
    return this.segments[0]!.baseOffset;
  }

  get endOffset(): number {
    return this.active.endOffset;
  }

  /** The segment holding `offset`; `endOffset` maps to the active segment; null below start. */
  segmentFor(offset: number): Segment | null {
    const segments = this.segments;
    let lo = 0;
    let hi = segments.length - 1;
    let found: Segment | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const segment = segments[mid]!;
      if (segment.baseOffset <= offset) {
        found = segment;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}

function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a file atomically: tmp file, fsync, rename, fsync of the folder. */
async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// The topic store: shared by every EmbeddedEventLog of this process on the same topic folder
// ---------------------------------------------------------------------------------------------

interface StoreEntry {
  store: Promise<TopicStore>;
  refs: number;
}

/** Open topic stores of this process, by absolute topic folder: one writer per topic. */
const openStores = new Map<string, StoreEntry>();
/** Stores being closed: a reopen waits for them (they still hold the lock file). */
const closingStores = new Map<string, Promise<void>>();

async function acquireStore(topic: string, options: ResolvedOptions): Promise<TopicStore> {
  const dir = path.resolve(options.dataDir, topic);
  let entry = openStores.get(dir);
  if (entry === undefined) {
    const closing = closingStores.get(dir) ?? Promise.resolve();
    const store = closing.then(() => TopicStore.open(dir, topic, options));
    entry = { store, refs: 0 };
    openStores.set(dir, entry);
    const created = entry;
    store.catch(() => {
      if (openStores.get(dir) === created) openStores.delete(dir);
    });
  }
  entry.refs++;
  try {
    const store = await entry.store;
    store.checkSharedOptions(options);
    return store;
  } catch (err) {
    entry.refs--;
    throw err;
  }
}

async function releaseStore(store: TopicStore): Promise<void> {
  const entry = openStores.get(store.dir);
  if (entry === undefined) return;
  entry.refs--;
  if (entry.refs > 0) return;
  openStores.delete(store.dir);
  const closing = store.close().finally(() => {
    if (closingStores.get(store.dir) === closing) closingStores.delete(store.dir);
  });
  closingStores.set(store.dir, closing);
  await closing;
}

class TopicStore {
  readonly partitions: PartitionLog[] = [];
  /** Bumped after every append that made records visible. */
  appendSeq = 0;
  private readonly listeners = new Set<() => void>();
  private writeChain: Promise<unknown> = Promise.resolve();
  private roundRobin = 0;
  private failed: PlatformError | null = null;
  private closed = false;
  private retentionTimer: NodeJS.Timeout | null = null;
  private readonly groupCache = new Map<string, Map<number, number>>();
  private readonly groupChains = new Map<string, Promise<unknown>>();
  readonly activeGroups = new Set<string>();
  readonly logger: Logger;

  private constructor(
    readonly dir: string,
    readonly topic: string,
    readonly options: ResolvedOptions,
  ) {
    this.logger = options.logger.child({ module: 'embedded-log', topic });
  }

  get groupsDir(): string {
    return path.join(this.dir, 'groups');
  }

  static async open(dir: string, topic: string, options: ResolvedOptions): Promise<TopicStore> {
    const store = new TopicStore(dir, topic, options);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw fsError(err, `creating ${dir}`);
    }
    await store.lock();
    try {
      await store.load();
    } catch (err) {
      await store.closeHandles();
      await store.unlock();
      throw isPlatformError(err) ? err : fsError(err, `opening ${dir}`);
    }
    if (options.retentionMs >= 0) {
      store.retentionTimer = setInterval(() => {
        store.applyRetention().catch((err: unknown) => store.logger.error({ err }, 'retention failed'));
      }, options.retentionCheckIntervalMs);
      store.retentionTimer.unref();
    }
    return store;
  }

  checkSharedOptions(options: ResolvedOptions): void {
    const mine = this.options;
    if (
      mine.retentionMs !== options.retentionMs ||
      mine.segmentBytes !== options.segmentBytes ||
      mine.now !== options.now
    ) {
      this.logger.warn(
        { retentionMs: mine.retentionMs, segmentBytes: mine.segmentBytes },
        'topic already open in this process with other options; the first options stay in effect',
      );
    }
  }

  // ----- lock ---------------------------------------------------------------------------------

  private get lockFile(): string {
    return path.join(this.dir, '.lock');
  }

  /** One process owns a topic folder: a second writer would corrupt it. */
  private async lock(): Promise<void> {
    const file = this.lockFile;
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(String(process.pid));
      } finally {
        await handle.close();
      }
      return;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw fsError(err, `locking ${this.dir}`);
    }
    let owner = Number.NaN;
    try {
      owner = Number((await readFile(file, 'utf8')).trim());
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw fsError(err, `reading ${file}`);
    }
    // Our own pid here means a previous instance of this process did not close (this
    // process's open stores are tracked in `openStores`, so it is not a live owner).
    if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
      throw new PlatformError(
        'PV_LOG_UNAVAILABLE',
        `embedded log ${this.dir} is in use by process ${owner}; one process owns an embedded log`,
        { retriable: false, details: { dir: this.dir, pid: owner } },
      );
    }
    this.logger.warn({ stalePid: Number.isNaN(owner) ? null : owner }, 'taking over a stale lock');
    try {
      await writeFileAtomic(file, String(process.pid));
    } catch (err) {
      throw fsError(err, `locking ${this.dir}`);
    }
  }

  private async unlock(): Promise<void> {
    try {
      await unlink(this.lockFile);
    } catch (err) {
      this.logger.warn({ err }, 'could not remove the lock file');
    }
  }

  // ----- open and recovery --------------------------------------------------------------------

  private async load(): Promise<void> {
    const metaFile = path.join(this.dir, 'topic.json');
    let partitions = this.options.partitions;
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
        this.logger.warn({ stored, requested: partitions }, 'topic exists with another partition count; keeping it');
      }
      partitions = stored;
    }
    await mkdir(this.groupsDir, { recursive: true });
    // Leftovers of atomic writes interrupted by a crash.
    for (const dir of [this.dir, this.groupsDir]) {
      for (const name of await readdir(dir)) {
        if (name.includes('.tmp-')) await rm(path.join(dir, name), { force: true });
      }
    }
    for (let id = 0; id < partitions; id++) {
      const partition = new PartitionLog(id, path.join(this.dir, String(id)));
      this.partitions.push(partition);
      await this.loadPartition(partition);
    }
  }

  private async loadPartition(partition: PartitionLog): Promise<void> {
    await mkdir(partition.dir, { recursive: true });
    const bases = (await readdir(partition.dir))
      .filter((name) => /^\d{20}\.log$/.test(name))
      .map((name) => Number(name.slice(0, 20)))
      .sort((a, b) => a - b);
    if (bases.length === 0) {
      const segment = new Segment(0, path.join(partition.dir, segmentFileName(0)));
      partition.handle = await open(segment.file, 'wx+');
      await fsyncDir(partition.dir);
      partition.segments.push(segment);
      return;
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
        await this.scanSegment(partition, segment, handle, isLast);
      } catch (err) {
        await handle.close();
        throw err;
      }
      partition.segments.push(segment);
      if (isLast) partition.handle = handle;
      else await handle.close();
    }
  }

  /** Rebuilds the index of one segment; recovers a torn tail of the last one. */
  private async scanSegment(partition: PartitionLog, segment: Segment, handle: FileHandle, isLast: boolean): Promise<void> {
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
    await this.recoverTail(handle, segment, fileSize, expected, details);
  }

  /**
   * A bad frame at `segment.size` (offset `expected`) of the last segment. Writes are fsync'ed
   * one after the other, so a valid frame behind it whose write started after `expected`
   * (offset - writeIndex > expected) proves the damaged write had been acknowledged:
   * PV_LOG_CORRUPT. Otherwise the damage is within the last write, a torn tail (crash during
   * the write, never acknowledged): it is truncated.
   */
  private async recoverTail(
    handle: FileHandle,
    segment: Segment,
    fileSize: number,
    expected: number,
    details: Record<string, unknown>,
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
    this.logger.warn(
      { ...details, truncatedBytes: fileSize - start, endOffset: segment.endOffset },
      'truncating a torn tail (crash during a write)',
    );
    await handle.truncate(start);
    await handle.datasync();
  }

  // ----- append -------------------------------------------------------------------------------

  private ensureOpen(): void {
    if (this.closed) throw closedError();
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(task, task);
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  append(messages: readonly LogMessage[]): Promise<void> {
    this.ensureOpen();
    const count = this.partitions.length;
    const perPartition = new Map<number, PreparedMessage[]>();
    for (const message of messages) {
      const partition =
        message.key === null ? this.roundRobin++ % count : partitionForKey(message.key, count);
      const prepared = prepareMessage(message, partition);
      let list = perPartition.get(partition);
      if (list === undefined) perPartition.set(partition, (list = []));
      list.push(prepared);
    }
    if (this.roundRobin >= Number.MAX_SAFE_INTEGER) this.roundRobin = 0;
    if (perPartition.size === 0) return Promise.resolve();
    return this.serialize(async () => {
      this.ensureOpen();
      if (this.failed !== null) throw this.failed;
      // Partitions are independent files: write and fsync them in parallel.
      const results = await Promise.allSettled(
        [...perPartition].map(([id, list]) => this.appendToPartition(this.partitions[id]!, list)),
      );
      if (results.some((r) => r.status === 'fulfilled')) this.notify();
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    });
  }

  private async appendToPartition(partition: PartitionLog, messages: PreparedMessage[]): Promise<void> {
    const timestamp = this.options.now();
    const segmentBytes = this.options.segmentBytes;
    let rolled = false;
    let batch: PreparedMessage[] = [];
    let batchBytes = 0;
    for (const message of messages) {
      if (partition.active.size + batchBytes > 0 && partition.active.size + batchBytes + message.size > segmentBytes) {
        if (batch.length > 0) await this.writeBatch(partition, batch, batchBytes, timestamp);
        await this.roll(partition);
        rolled = true;
        batch = [];
        batchBytes = 0;
      }
      batch.push(message);
      batchBytes += message.size;
    }
    if (batch.length > 0) await this.writeBatch(partition, batch, batchBytes, timestamp);
    if (rolled) await this.retainPartition(partition);
  }

  /** One positional write + fdatasync; the records become visible only afterwards. */
  private async writeBatch(partition: PartitionLog, batch: PreparedMessage[], bytes: number, timestamp: number): Promise<void> {
    const segment = partition.active;
    const handle = partition.handle!;
    const buffer = Buffer.allocUnsafe(bytes);
    const positions: number[] = [];
    let p = 0;
    let offset = segment.endOffset;
    for (let i = 0; i < batch.length; i++) {
      positions.push(segment.size + p);
      p += encodeFrame(buffer, p, batch[i]!, offset++, timestamp, i);
    }
    try {
      let written = 0;
      while (written < bytes) {
        const { bytesWritten } = await handle.write(buffer, written, bytes - written, segment.size + written);
        written += bytesWritten;
      }
      await handle.datasync();
    } catch (err) {
      const error = fsError(err, `appending to ${segment.file}`);
      try {
        await handle.truncate(segment.size);
      } catch (truncateErr) {
        this.failed = new PlatformError(
          'PV_LOG_UNAVAILABLE',
          `embedded log ${this.dir} failed a write and could not undo it; reopen it to recover`,
          { cause: truncateErr, retriable: false },
        );
        this.logger.error({ err: truncateErr }, 'could not undo a failed write; appends are disabled');
      }
      throw error;
    }
    let first = segment.endOffset;
    for (const position of positions) segment.track(first++, position, timestamp);
    segment.size += bytes;
  }

  private async roll(partition: PartitionLog): Promise<void> {
    const base = partition.endOffset;
    const segment = new Segment(base, path.join(partition.dir, segmentFileName(base)));
    let handle: FileHandle;
    try {
      handle = await open(segment.file, 'wx+');
      await fsyncDir(partition.dir);
    } catch (err) {
      throw errnoCode(err) === 'EEXIST'
        ? corrupt(`segment ${segment.file} already exists`, { partition: partition.id, file: segment.file })
        : fsError(err, `rolling to ${segment.file}`);
    }
    const previous = partition.handle;
    partition.segments.push(segment);
    partition.handle = handle;
    await previous?.close();
    this.logger.debug({ partition: partition.id, baseOffset: base }, 'segment rolled');
  }

  private notify(): void {
    this.appendSeq++;
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves on the next append after `seq`, after `timeoutMs`, or when `signal` fires. */
  waitForAppend(seq: number, timeoutMs: number, wake: { cancel?: () => void }): Promise<void> {
    if (this.appendSeq !== seq || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(done);
        delete wake.cancel;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.listeners.add(done);
      wake.cancel = done;
    });
  }

  // ----- retention ----------------------------------------------------------------------------

  /** Deletes expired sealed segments; returns how many. */
  applyRetention(): Promise<number> {
    if (this.options.retentionMs < 0 || this.closed) return Promise.resolve(0);
    return this.serialize(async () => {
      let deleted = 0;
      for (const partition of this.partitions) deleted += await this.retainPartition(partition);
      return deleted;
    });
  }

  /** Must run inside `serialize`. */
  private async retainPartition(partition: PartitionLog): Promise<number> {
    const retentionMs = this.options.retentionMs;
    if (retentionMs < 0 || this.closed) return 0;
    const cutoff = this.options.now() - retentionMs;
    let deleted = 0;
    while (partition.segments.length > 1 && partition.segments[0]!.maxTimestamp < cutoff) {
      const segment = partition.segments[0]!;
      // Readers open segments by path and keep their own handle, so unlinking is safe.
      partition.segments.shift();
      try {
        await unlink(segment.file);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') {
          partition.segments.unshift(segment);
          throw fsError(err, `deleting ${segment.file}`);
        }
      }
      deleted++;
      this.logger.info(
        { partition: partition.id, baseOffset: segment.baseOffset, endOffset: segment.endOffset },
        'retention deleted a segment',
      );
    }
    if (deleted > 0) await fsyncDir(partition.dir);
    return deleted;
  }

  // ----- reads --------------------------------------------------------------------------------

  partition(id: number): PartitionLog {
    const partition = this.partitions[id];
    if (!Number.isInteger(id) || partition === undefined) {
      throw new RangeError(`partition ${id} does not exist (topic ${this.topic} has ${this.partitions.length})`);
    }
    return partition;
  }

  /** Reads up to `maxRecords` / about `maxBytes` of [from, to). */
  async read(partition: PartitionLog, from: number, to: number, maxRecords: number, maxBytes: number): Promise<LogRecord[]> {
    const cursor = new PartitionCursor(partition, from);
    try {
      return await cursor.read(to, maxRecords, maxBytes);
    } finally {
      await cursor.close();
    }
  }

  // ----- consumer groups ----------------------------------------------------------------------

  private groupFile(groupId: string): string {
    return path.join(this.groupsDir, `${encodeURIComponent(groupId)}.json`);
  }

  async committed(groupId: string): Promise<Map<number, number>> {
    const cached = this.groupCache.get(groupId);
    if (cached !== undefined) return new Map(cached);
    const file = this.groupFile(groupId);
    const offsets = new Map<number, number>();
    let text: string | null = null;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw fsError(err, `reading ${file}`);
    }
    if (text !== null) {
      let parsed: { offsets?: Record<string, unknown> };
      try {
        parsed = JSON.parse(text) as { offsets?: Record<string, unknown> };
      } catch {
        throw corrupt(`${file} is not valid JSON`, { file });
      }
      for (const [partition, offset] of Object.entries(parsed.offsets ?? {})) {
        if (typeof offset === 'number') offsets.set(Number(partition), offset);
      }
    }
    this.groupCache.set(groupId, offsets);
    return new Map(offsets);
  }

  commit(groupId: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    this.ensureOpen();
    for (const [partition, offset] of offsets) {
      this.partition(partition);
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new RangeError(`invalid offset ${offset} for partition ${partition}`);
      }
    }
    const previous = this.groupChains.get(groupId) ?? Promise.resolve();
    const run = previous.then(async () => {
      const next = await this.committed(groupId);
      for (const [partition, offset] of offsets) next.set(partition, offset);
      const body = {
        version: 1,
        groupId,
        offsets: Object.fromEntries([...next].sort((a, b) => a[0] - b[0])),
      };
      try {
        await writeFileAtomic(this.groupFile(groupId), `${JSON.stringify(body)}\n`);
      } catch (err) {
        throw fsError(err, `committing offsets of group ${groupId}`);
      }
      this.groupCache.set(groupId, next);
    });
    this.groupChains.set(
      groupId,
      run.catch(() => undefined),
    );
    return run;
  }

  // ----- close --------------------------------------------------------------------------------

  private async closeHandles(): Promise<void> {
    for (const partition of this.partitions) {
      const handle = partition.handle;
      partition.handle = null;
      await handle?.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    for (const listener of [...this.listeners]) listener();
    await this.writeChain;
    await Promise.all([...this.groupChains.values()]);
    await this.closeHandles();
    await this.unlock();
  }
}

/** Sequential reader over one partition, crossing segments. */
class PartitionCursor {
  private segment: Segment | null = null;
  private handle: FileHandle | null = null;
  private reader: FrameReader | null = null;
  private next: number;

  constructor(
    private readonly partition: PartitionLog,
    private readonly from: number,
  ) {
    this.next = from;
  }

  private async openSegment(offset: number): Promise<boolean> {
    const segment = this.partition.segmentFor(offset);
    if (segment === null || offset < this.partition.startOffset) {
      throw outOfRange(`offset ${offset} of partition ${this.partition.id} is below the retained start`, {
        partition: this.partition.id,
        offset,
        startOffset: this.partition.startOffset,
      });
    }
    if (segment === this.segment) return false;
    await this.close();
    try {
      this.handle = await open(segment.file, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        throw outOfRange(`offset ${offset} of partition ${this.partition.id} was deleted by retention`, {
          partition: this.partition.id,
          offset,
        });
      }
      throw fsError(err, `opening ${segment.file}`);
    }
    const start = segment.lookup(offset);
    this.segment = segment;
    this.reader = new FrameReader(this.handle, start.position, () => segment.size);
    this.next = start.offset;
    return true;
  }

  async read(to: number, maxRecords: number, maxBytes: number): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    if (this.reader === null) await this.openSegment(this.next);
    let bytes = 0;
    const partitionId = this.partition.id;
    while (this.next < to && out.length < maxRecords && bytes < maxBytes) {
      const reader = this.reader!;
      const parsed = reader.parse();
      if (parsed === NEED_MORE) {
        const more = await reader.refill();
        if (more === true) continue;
        if (more === 'truncated') throw this.corruptAt('truncated');
        // End of this segment's committed bytes: move on when the next offset lives in a later one.
        if (this.next < this.segment!.endOffset) throw this.corruptAt('truncated');
        if (!(await this.openSegment(this.next))) break;
        continue;
      }
      if (typeof parsed !== 'number') throw this.corruptAt(parsed);
      const buf = reader.buffer;
      const start = reader.payloadStart;
      const offset = readU64(buf, start + 2);
      if (offset !== this.next) throw this.corruptAt(`offset ${offset}, expected ${this.next}`);
      if (offset >= this.from) {
        try {
          out.push(decodeRecord(buf, start, start + parsed, partitionId));
        } catch {
          throw this.corruptAt('undecodable payload');
        }
        bytes += parsed;
      }
      reader.advance(parsed);
      this.next++;
    }
    return out;
  }

  private corruptAt(problem: string): PlatformError {
    return corrupt(`bad frame while reading (${problem})`, {
      partition: this.partition.id,
      file: this.segment?.file,
      position: this.reader?.pos,
    });
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    this.reader = null;
    this.segment = null;
    await handle?.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Consumer
// ---------------------------------------------------------------------------------------------

class EmbeddedConsumer implements LogConsumer {
  private readonly positions = new Map<number, number>();
  private stopping = false;
  private stopPromise: Promise<void> | null = null;
  private loopPromise: Promise<void> = Promise.resolve();
  private readonly wake: { cancel?: () => void } = {};
  private readonly all: number[];
  private readonly logger: Logger;

  constructor(
    private readonly store: TopicStore,
    private readonly options: ConsumeOptions,
    private readonly pollIntervalMs: number,
    private readonly onStopped: (consumer: EmbeddedConsumer) => void,
  ) {
    this.all = store.partitions.map((p) => p.id);
    this.logger = store.logger.child({ groupId: options.groupId });
  }

  async start(): Promise<void> {
    const committed = await this.store.committed(this.options.groupId);
    for (const partition of this.store.partitions) {
      this.positions.set(partition.id, committed.get(partition.id) ?? partition.startOffset);
    }
    await this.options.onAssigned?.([...this.all]);
    this.loopPromise = this.loop();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let first = 0;
    try {
      while (!this.stopping) {
        const seq = this.store.appendSeq;
        let delivered = false;
        let failed = false;
        for (let n = 0; n < this.all.length && !this.stopping; n++) {
          const id = this.all[(first + n) % this.all.length]!;
          try {
            if (await this.deliver(id)) delivered = true;
            failures = 0;
          } catch (err) {
            failed = true;
            failures++;
            this.logger.error({ err, partition: id, offset: this.positions.get(id) }, 'eachBatch failed; retrying the batch');
            break;
          }
        }
        first = (first + 1) % this.all.length;
        if (this.stopping) break;
        if (failed) {
          await this.sleep(Math.min(MAX_CONSUMER_BACKOFF_MS, 250 * 2 ** Math.min(failures, 10)));
        } else if (!delivered) {
          await this.store.waitForAppend(seq, this.pollIntervalMs, this.wake);
        }
      }
    } finally {
      try {
        await this.options.onRevoked?.([...this.all]);
      } catch (err) {
        this.logger.error({ err }, 'onRevoked failed');
      }
    }
  }

  /** Delivers one batch of a partition; false when there was nothing to deliver. */
  private async deliver(id: number): Promise<boolean> {
    const partition = this.store.partition(id);
    let position = this.positions.get(id)!;
    if (position < partition.startOffset) {
      this.logger.warn(
        { partition: id, position, startOffset: partition.startOffset },
        'position below the retained start (deleted by retention); resuming from the start',
      );
      position = partition.startOffset;
      this.positions.set(id, position);
    }
    const end = partition.endOffset;
    if (position >= end) return false;
    let records: LogRecord[];
    try {
      records = await this.store.read(partition, position, Math.min(end, position + EMBEDDED_MAX_BATCH_RECORDS), EMBEDDED_MAX_BATCH_RECORDS, MAX_BATCH_BYTES);
    } catch (err) {
      if (isPlatformError(err, 'PV_OFFSET_OUT_OF_RANGE')) return false; // retention raced us; re-check next round
      throw err;
    }
    if (records.length === 0) return false;
    const batch: LogBatch = { partition: id, records, highWatermark: end };
    await this.options.eachBatch(batch);
    this.positions.set(id, records[records.length - 1]!.offset + 1);
    return true;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        delete this.wake.cancel;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.cancel = done;
    });
  }

  commit(offsets: ReadonlyMap<number, number>): Promise<void> {
    try {
      return this.store.commit(this.options.groupId, offsets);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  assignment(): number[] {
    return this.stopping ? [] : [...this.all];
  }

  /** Ends the poll loop after the in-flight batch; do not await it inside eachBatch. */
  stop(): Promise<void> {
    if (this.stopPromise === null) {
      this.stopping = true;
      this.wake.cancel?.();
      this.stopPromise = this.loopPromise.finally(() => this.onStopped(this));
    }
    return this.stopPromise;
  }
}

// ---------------------------------------------------------------------------------------------
// The EventLog
// ---------------------------------------------------------------------------------------------

function validateTopic(topic: string): void {
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw new PlatformError(
      'PV_CONFIG_INVALID',
      `topic '${topic}' is invalid: use 1-249 characters of [a-zA-Z0-9._-] (not '.' or '..')`,
    );
  }
}

function resolveOptions(options: EmbeddedEventLogOptions): ResolvedOptions {
  const d = EMBEDDED_EVENT_LOG_DEFAULTS;
  const resolved: ResolvedOptions = {
    dataDir: options.dataDir,
    partitions: options.partitions ?? d.partitions,
    retentionMs: options.retentionMs ?? d.retentionMs,
    segmentBytes: options.segmentBytes ?? d.segmentBytes,
    pollIntervalMs: options.pollIntervalMs ?? d.pollIntervalMs,
    retentionCheckIntervalMs: options.retentionCheckIntervalMs ?? d.retentionCheckIntervalMs,
    now: options.now ?? Date.now,
    logger: options.logger ?? silentLogger,
  };
  const invalid = (option: string, rule: string): PlatformError =>
    new PlatformError('PV_CONFIG_INVALID', `EmbeddedEventLog option '${option}' ${rule}`);
  if (typeof resolved.dataDir !== 'string' || resolved.dataDir === '') throw invalid('dataDir', 'must be a folder path');
  if (!Number.isInteger(resolved.partitions) || resolved.partitions < 1 || resolved.partitions > 10_000) {
    throw invalid('partitions', 'must be an integer from 1 to 10000');
  }
  if (!Number.isInteger(resolved.retentionMs) || resolved.retentionMs < -1) {
    throw invalid('retentionMs', 'must be -1 (keep forever) or a number of milliseconds');
  }
  if (!Number.isInteger(resolved.segmentBytes) || resolved.segmentBytes < 1024) {
    throw invalid('segmentBytes', 'must be an integer of at least 1024');
  }
  if (!(resolved.pollIntervalMs > 0)) throw invalid('pollIntervalMs', 'must be positive');
  if (!(resolved.retentionCheckIntervalMs > 0)) throw invalid('retentionCheckIntervalMs', 'must be positive');
  return resolved;
}

export class EmbeddedEventLog implements EventLog {
  readonly kind = 'embedded' as const;
  readonly topic: string;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly stores = new Map<string, Promise<TopicStore>>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  private closed = false;
  private closePromise: Promise<void> | null = null;

  constructor(options: EmbeddedEventLogOptions) {
    validateTopic(options.topic);
    this.topic = options.topic;
    this.options = resolveOptions(options);
    this.logger = this.options.logger.child({ module: 'embedded-log' });
  }

  private ensureOpen(): void {
    if (this.closed) throw closedError();
  }

  private async store(topic: string = this.topic): Promise<TopicStore> {
    this.ensureOpen();
    let store = this.stores.get(topic);
    if (store === undefined) {
      validateTopic(topic);
      store = acquireStore(topic, this.options);
      this.stores.set(topic, store);
      store.catch(() => this.stores.delete(topic));
    }
    const opened = await store;
    this.ensureOpen();
    return opened;
  }

  async ensureTopic(): Promise<void> {
    await this.store();
  }

  async append(messages: readonly LogMessage[]): Promise<void> {
    const store = await this.store();
    await store.append(messages);
  }

  async appendTo(topic: string, messages: readonly LogMessage[]): Promise<void> {
    const store = await this.store(topic);
    await store.append(messages);
  }

  async partitionCount(): Promise<number> {
    return (await this.store()).partitions.length;
  }

  async startOffsets(): Promise<Map<number, number>> {
    const store = await this.store();
    return new Map(store.partitions.map((p) => [p.id, p.startOffset]));
  }

  async endOffsets(): Promise<Map<number, number>> {
    const store = await this.store();
    return new Map(store.partitions.map((p) => [p.id, p.endOffset]));
  }

  async readRange(options: ReadRangeOptions): Promise<void> {
    const store = await this.store();
    const { fromOffset, toOffset } = options;
    const partition = store.partition(options.partition);
    if (!Number.isSafeInteger(fromOffset) || !Number.isSafeInteger(toOffset) || fromOffset > toOffset) {
      throw new RangeError(`invalid range [${fromOffset}, ${toOffset})`);
    }
    const details = {
      partition: partition.id,
      fromOffset,
      toOffset,
      startOffset: partition.startOffset,
      endOffset: partition.endOffset,
    };
    if (fromOffset < partition.startOffset) {
      throw outOfRange(`offset ${fromOffset} of partition ${partition.id} is below the retained start ${partition.startOffset}`, details);
    }
    if (toOffset > partition.endOffset) {
      throw outOfRange(`offset ${toOffset} of partition ${partition.id} is past the end ${partition.endOffset}`, details);
    }
    const cursor = new PartitionCursor(partition, fromOffset);
    try {
      let next = fromOffset;
      while (next < toOffset) {
        this.ensureOpen();
        const records = await cursor.read(toOffset, EMBEDDED_MAX_BATCH_RECORDS, Number.POSITIVE_INFINITY);
        if (records.length === 0) throw corrupt(`partition ${partition.id} ended before offset ${toOffset}`, details);
        next = records[records.length - 1]!.offset + 1;
        await options.onRecords(records);
      }
    } finally {
      await cursor.close();
    }
  }

  async consume(options: ConsumeOptions): Promise<LogConsumer> {
    const store = await this.store();
    if (store.activeGroups.has(options.groupId)) {
      throw new PlatformError(
        'PV_CONFIG_INVALID',
        `group '${options.groupId}' already has a running consumer: the embedded log has one member per group`,
      );
    }
    store.activeGroups.add(options.groupId);
    const consumer = new EmbeddedConsumer(store, options, this.options.pollIntervalMs, (c) => {
      this.consumers.delete(c);
      store.activeGroups.delete(options.groupId);
    });
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (err) {
      this.consumers.delete(consumer);
      store.activeGroups.delete(options.groupId);
      throw err;
    }
    return consumer;
  }

  async committedOffsets(groupId: string): Promise<Map<number, number>> {
    return (await this.store()).committed(groupId);
  }

  /** True while open (a local log has nothing else to ask). False after close. */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.store();
      return true;
    } catch (err) {
      this.logger.warn({ err }, 'ping failed');
      return false;
    }
  }

  /** Runs retention now on the topics this log has open; returns the number of deleted segments. */
  async applyRetention(): Promise<number> {
    const store = await this.store();
    return store.applyRetention();
  }

  /** Stops this log's consumers, waits for in-flight appends, closes files. Idempotent. */
  close(): Promise<void> {
    if (this.closePromise === null) {
      this.closed = true;
      this.closePromise = (async () => {
        await Promise.all([...this.consumers].map((c) => c.stop()));
        const stores = await Promise.allSettled(this.stores.values());
        this.stores.clear();
        for (const result of stores) {
          if (result.status === 'fulfilled') await releaseStore(result.value);
        }
      })();
    }
    return this.closePromise;
  }
}
