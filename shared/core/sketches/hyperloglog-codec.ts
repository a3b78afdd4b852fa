/**
 * The versioned binary form of a {@link HyperLogLog} (see hyperloglog.ts), on plain register
 * data so that it needs nothing from the class. All integers are little-endian:
 *
 *   0  u8   magic 0x48 ('H')
 *   1  u8   format version (1)
 *   2  u8   precision p (4..18)
 *   3  u8   encoding: 0 = sparse, 1 = dense
 *   sparse: u32 entry count n, then n entries in increasing index order, each
 *           varint(index delta) u8 rank, where the delta is the index for the first entry
 *           and index - previous index - 1 after it (varint = unsigned LEB128)
 *   dense:  the 2^p registers packed 6 bits each, 4 per 3 bytes: the 24-bit little-endian
 *           group j holds registers 4j .. 4j+3 from its low bits up
 *   last 4 bytes: u32 checksum = low 32 bits of hash64 of all preceding bytes
 *
 * Anything else given to {@link decodeHll} throws PlatformError `PV_SKETCH_CORRUPT`.
 */
import { PlatformError } from '../errors.ts';
import { checksum32 } from './hash.ts';

/** Smallest precision of a sketch, and of the precision byte of the format. */
export const HLL_MIN_PRECISION = 4;
/** Largest precision of a sketch, and of the precision byte of the format. */
export const HLL_MAX_PRECISION = 18;
/** Version byte of the current serialized format. */
export const HLL_FORMAT_VERSION = 1;

/** A sparse entry is (index << RANK_BITS | rank): ranks are at most 65 - p ≤ 61, 6 bits. */
export const RANK_BITS = 6;
export const RANK_MASK = (1 << RANK_BITS) - 1;

const MAGIC = 0x48; // 'H'
const ENCODING_SPARSE = 0;
const ENCODING_DENSE = 1;
const HEADER_BYTES = 4;
const CHECKSUM_BYTES = 4;

/**
 * The registers of a sketch of precision p, as the format holds them: all 2^p registers
 * (dense), or the non-zero ones as (index << 6 | rank) entries in increasing index order (sparse).
 */
export type HllContent =
  | { readonly precision: number; readonly encoding: 'dense'; readonly registers: Uint8Array }
  | { readonly precision: number; readonly encoding: 'sparse'; readonly entries: Uint32Array };

function corrupt(reason: string): PlatformError {
  return new PlatformError('PV_SKETCH_CORRUPT', `invalid serialized HyperLogLog: ${reason}`);
}

function writeHeader(out: Uint8Array, precision: number, encoding: number): void {
  out[0] = MAGIC;
  out[1] = HLL_FORMAT_VERSION;
  out[2] = precision;
  out[3] = encoding;
}

/** The bytes of `content` in the format above. */
export function encodeHll(content: HllContent): Uint8Array {
  if (content.encoding === 'sparse') {
    const entries = content.entries;
    const n = entries.length;
    const out = new Uint8Array(HEADER_BYTES + 4 + n * 4 + CHECKSUM_BYTES); // ≤ 3 + 1 bytes per entry
    writeHeader(out, content.precision, ENCODING_SPARSE);
    const view = new DataView(out.buffer);
    view.setUint32(4, n, true);
    let pos = 8;
    let previous = -1;
    for (let i = 0; i < n; i++) {
      const entry = entries[i]!;
      const index = entry >>> RANK_BITS;
      let delta = index - previous - 1;
      previous = index;
      while (delta >= 0x80) {
        out[pos++] = (delta & 0x7f) | 0x80;
        delta >>>= 7;
      }
      out[pos++] = delta;
      out[pos++] = entry & RANK_MASK;
    }
    view.setUint32(pos, checksum32(out, pos), true);
    return out.slice(0, pos + CHECKSUM_BYTES);
  }
  const registers = content.registers;
  const m = registers.length;
  const out = new Uint8Array(HEADER_BYTES + (m / 4) * 3 + CHECKSUM_BYTES);
  writeHeader(out, content.precision, ENCODING_DENSE);
  let pos = HEADER_BYTES;
  for (let i = 0; i < m; i += 4) {
    const group = registers[i]! | (registers[i + 1]! << 6) | (registers[i + 2]! << 12) | (registers[i + 3]! << 18);
    out[pos++] = group & 0xff;
    out[pos++] = (group >>> 8) & 0xff;
    out[pos++] = group >>> 16;
  }
  new DataView(out.buffer).setUint32(pos, checksum32(out, pos), true);
  return out;
}

/**
 * Reads {@link encodeHll}'s output. Anything else (wrong magic or version, bad checksum,
 * truncation, trailing bytes, out-of-range values) throws PlatformError `PV_SKETCH_CORRUPT`.
 */
export function decodeHll(bytes: Uint8Array): HllContent {
  if (!(bytes instanceof Uint8Array)) throw corrupt('expected a Uint8Array');
  if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) throw corrupt(`too short (${bytes.length} bytes)`);
  if (bytes[0] !== MAGIC) throw corrupt('not a HyperLogLog (bad magic byte)');
  if (bytes[1] !== HLL_FORMAT_VERSION) {
    throw corrupt(`unsupported format version ${bytes[1]} (this code reads version ${HLL_FORMAT_VERSION})`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - CHECKSUM_BYTES;
  if (view.getUint32(end, true) !== checksum32(bytes, end)) throw corrupt('checksum mismatch');
  const precision = bytes[2]!;
  if (precision < HLL_MIN_PRECISION || precision > HLL_MAX_PRECISION) throw corrupt(`precision ${precision} out of range`);
  const m = 2 ** precision;
  const maxRank = 65 - precision;
  const encoding = bytes[3];
  if (encoding === ENCODING_DENSE) {
    if (end - HEADER_BYTES !== (m / 4) * 3) throw corrupt(`dense body has ${end - HEADER_BYTES} bytes, expected ${(m / 4) * 3}`);
    const registers = new Uint8Array(m);
    let pos = HEADER_BYTES;
    for (let i = 0; i < m; i += 4) {
      const group = bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16);
      pos += 3;
      for (let k = 0; k < 4; k++) {
        const rank = (group >>> (6 * k)) & RANK_MASK;
        if (rank > maxRank) throw corrupt(`register ${i + k} is ${rank}, above the maximum ${maxRank}`);
        registers[i + k] = rank;
      }
    }
    return { precision, encoding: 'dense', registers };
  }
  if (encoding !== ENCODING_SPARSE) throw corrupt(`unknown encoding ${encoding}`);
  if (end < HEADER_BYTES + 4) throw corrupt('truncated sparse header');
  const n = view.getUint32(HEADER_BYTES, true);
  if (n > m) throw corrupt(`${n} sparse entries for ${m} registers`);
  if (n * 2 > end - HEADER_BYTES - 4) throw corrupt(`${n} sparse entries cannot fit in ${end} bytes`);
  const entries = new Uint32Array(n);
  let pos = HEADER_BYTES + 4;
  let previous = -1;
  for (let i = 0; i < n; i++) {
    let delta = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end) throw corrupt('truncated sparse entry');
      const byte = bytes[pos++]!;
      delta += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (byte === 0 && shift > 0) throw corrupt('non-canonical varint');
        break;
      }
      shift += 7;
      if (shift > 21) throw corrupt('sparse index delta too long');
    }
    const index = previous + 1 + delta;
    if (index >= m) throw corrupt(`sparse index ${index} out of range`);
    if (pos >= end) throw corrupt('truncated sparse entry');
    const rank = bytes[pos++]!;
    if (rank < 1 || rank > maxRank) throw corrupt(`sparse rank ${rank} out of range 1..${maxRank}`);
    entries[i] = (index << RANK_BITS) | rank;
    previous = index;
  }
  if (pos !== end) throw corrupt(`${end - pos} unexpected trailing bytes`);
  return { precision, encoding: 'sparse', entries };
}

/**
 * The bytes of a toBase64 string, strictly (standard alphabet, padded: Buffer.from alone
 * silently skips bad characters); anything else throws `PV_SKETCH_CORRUPT`.
 */
export function hllBytesFromBase64(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw corrupt('expected a base64 string');
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw corrupt('not valid base64');
  return new Uint8Array(Buffer.from(text, 'base64'));
}
