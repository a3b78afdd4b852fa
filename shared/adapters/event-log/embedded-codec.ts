/**
 * The embedded log's record codec: CRC-32, frame encoding and decoding, and FrameReader, the
 * buffered frame reader over one segment file.
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
 */
import zlib from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';
import { PlatformError } from '../../core/errors.ts';
import type { LogMessage, LogRecord } from './event-log.ts';

/** Largest accepted payload; larger messages are rejected by `append`. */
export const EMBEDDED_MAX_RECORD_BYTES = 16 * 1024 * 1024;
/** Bytes per read() when scanning or reading segments. */
const READ_CHUNK_BYTES = 1024 * 1024;
export const FRAME_HEADER_BYTES = 8;
export const MAGIC = 1;
/** magic + attributes + offset + timestamp + writeIndex + keyLength + headerCount */
export const MIN_PAYLOAD_BYTES = 28;
const KEY_LENGTH_AT = 22;
const TWO_POW_32 = 2 ** 32;

// ---------------------------------------------------------------------------------------------
// CRC-32
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
export const crc32: (data: Uint8Array) => number =
  typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc32;

// ---------------------------------------------------------------------------------------------
// Frame codec
// ---------------------------------------------------------------------------------------------

function writeU64(buf: Buffer, pos: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / TWO_POW_32), pos);
  buf.writeUInt32BE(n >>> 0, pos + 4);
}

export function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * TWO_POW_32 + buf.readUInt32BE(pos + 4);
}

export interface PreparedMessage {
  partition: number;
  key: Buffer | null;
  headers: Array<[Buffer, Buffer]>;
  value: Buffer;
  /** Frame size in bytes (header + payload). */
  size: number;
}

export function prepareMessage(message: LogMessage, partition: number): PreparedMessage {
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
export function encodeFrame(
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
export function decodeRecord(buf: Buffer, start: number, end: number, partition: number): LogRecord {
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
// Reading frames from a file
// ---------------------------------------------------------------------------------------------

export type FrameProblem = 'truncated' | 'length' | 'crc' | 'magic';

export const NEED_MORE = 0 as const;

/**
 * Buffered sequential frame reader over [pos, limit()) of one file. Each refill allocates a
 * fresh buffer, so records decoded from earlier buffers stay valid.
 */
export class FrameReader {
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
