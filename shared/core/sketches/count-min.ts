/**
 * Count-Min sketch (Cormode & Muthukrishnan 2005): frequency estimates for a stream of keys in
 * fixed memory. For a stream of total count N:
 *
 *   true(x) ≤ estimate(x)                       always
 *   estimate(x) ≤ true(x) + ε·N                 with probability ≥ 1 − δ (per key)
 *
 * with width w = ceil(e/ε) rounded up to a prime, and depth d = ceil(ln(1/δ)).
 *
 * Row indices come from the two 32-bit halves of the 64-bit {@link hash64} by double hashing
 * (Kirsch & Mitzenmacher 2006): column_i(x) = (lo + i·hi) mod w for row i = 0 .. d−1, computed
 * exactly (no 32-bit wrap-around). A prime w keeps the columns of two different keys from
 * colliding in several rows more often than independent hashes would; it only makes w larger,
 * so the ε guarantee still holds (ε actually achieved: e / w ≤ ε). At ε = 0.001, w = 2719.
 *
 * Counts are exact integers up to 2^53 (Float64Array cells). Merging adds cells, so the merge of
 * two sketches is exactly the sketch of the concatenated streams.
 */
import { PlatformError } from '../errors.ts';
import { checksum32, hash64, type Hash64 } from './hash.ts';

/** Defaults: ε = 0.001 (error ≤ 0.1% of the total), δ = 0.01 (for 99% of keys). */
export const COUNT_MIN_DEFAULTS = { epsilon: 0.001, delta: 0.01 } as const;
/** Version byte of the current serialized format. */
export const COUNT_MIN_FORMAT_VERSION = 1;
/** Refuse configurations above this many cells (512 MiB of counters). */
const MAX_CELLS = 2 ** 26;

const MAGIC = 0x43; // 'C'
const HEADER_BYTES = 34;
const CHECKSUM_BYTES = 4;
const OBJECT_OVERHEAD_BYTES = 96;
const TYPED_ARRAY_OVERHEAD_BYTES = 220;

const scratchHash: Hash64 = { hi: 0, lo: 0 };

function corrupt(reason: string): PlatformError {
  return new PlatformError('PV_SKETCH_CORRUPT', `invalid serialized CountMinSketch: ${reason}`);
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return false;
  return true;
}

/** The width for ε: the smallest prime ≥ ceil(e / ε). */
export function countMinWidth(epsilon: number): number {
  let w = Math.ceil(Math.E / epsilon);
  if (!(w <= MAX_CELLS)) throw new RangeError(`CountMinSketch epsilon ${epsilon} needs more than ${MAX_CELLS} counters per row`);
  while (!isPrime(w)) w++;
  return w;
}

/** The depth for δ: ceil(ln(1 / δ)), at least 1. */
export function countMinDepth(delta: number): number {
  return Math.max(1, Math.ceil(Math.log(1 / delta)));
}

function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`CountMinSketch count must be a non-negative safe integer, got ${count}`);
  }
}

/**
 * The overcount bound of an estimate read from (merged) sketches of `width` columns that
 * counted `total` events: ⌈ε·N⌉ with the ε the width achieves (e / width). With probability
 * ≥ 1 − δ the estimate exceeds the true count by at most this. The one formula: the sketch's
 * own {@link CountMinSketch.errorBound} and the stores' engine-side merges both use it.
 */
export function countMinOvercountBound(width: number, total: number): number {
  return Math.ceil((Math.E / width) * total);
}

export class CountMinSketch {
  readonly epsilon: number;
  readonly delta: number;
  readonly width: number;
  readonly depth: number;
  /** depth rows of width counters, row-major. */
  private readonly counters: Float64Array;
  private total = 0;

  /**
   * @param epsilon error bound as a fraction of the total count, in (0, 1). @default 0.001
   * @param delta probability that a key's estimate exceeds the bound, in (0, 1). @default 0.01
   */
  constructor(epsilon: number = COUNT_MIN_DEFAULTS.epsilon, delta: number = COUNT_MIN_DEFAULTS.delta) {
    if (!(epsilon > 0 && epsilon < 1)) throw new RangeError(`CountMinSketch epsilon must be in (0, 1), got ${epsilon}`);
    if (!(delta > 0 && delta < 1)) throw new RangeError(`CountMinSketch delta must be in (0, 1), got ${delta}`);
    const width = countMinWidth(epsilon);
    const depth = countMinDepth(delta);
    if (width * depth > MAX_CELLS) {
      throw new RangeError(`CountMinSketch with epsilon ${epsilon} and delta ${delta} needs ${width * depth} cells, more than ${MAX_CELLS}`);
    }
    this.epsilon = epsilon;
    this.delta = delta;
    this.width = width;
    this.depth = depth;
    this.counters = new Float64Array(width * depth);
  }

  /**
   * Rebuilds a sketch from its counters (as {@link cells} returns them, row-major), e.g.
   * from a store that keeps them as an array column and sums them cell-wise across partitions.
   * The total is the sum of any row (all rows must agree). ε and δ default to what the shape
   * achieves: e / width and e^−depth. Inconsistent input throws `PV_SKETCH_CORRUPT`.
   */
  static fromCells(
    width: number,
    depth: number,
    cells: ArrayLike<number>,
    epsilon: number = Math.E / width,
    delta: number = Math.exp(-depth),
  ): CountMinSketch {
    const fail = (reason: string): PlatformError =>
      new PlatformError('PV_SKETCH_CORRUPT', `invalid CountMinSketch cells: ${reason}`);
    if (!Number.isSafeInteger(width) || width < 1 || !Number.isSafeInteger(depth) || depth < 1 || width * depth > MAX_CELLS) {
      throw fail(`bad shape ${depth}x${width}`);
    }
    if (cells.length !== width * depth) throw fail(`${cells.length} cells for a ${depth}x${width} sketch`);
    if (!(epsilon > 0 && epsilon < 1) || !(delta > 0 && delta < 1)) throw fail(`epsilon ${epsilon} or delta ${delta} out of (0, 1)`);
    const sketch = Object.create(CountMinSketch.prototype) as CountMinSketch;
    const values = new Float64Array(width * depth);
    let total = 0;
    for (let row = 0; row < depth; row++) {
      let rowSum = 0;
      for (let col = 0; col < width; col++) {
        const value = cells[row * width + col]!;
        if (!Number.isSafeInteger(value) || value < 0) throw fail(`cell ${row * width + col} is ${value}`);
        values[row * width + col] = value;
        rowSum += value;
      }
      if (row === 0) total = rowSum;
      else if (rowSum !== total) throw fail(`row ${row} sums to ${rowSum}, row 0 to ${total}`);
    }
    if (!Number.isSafeInteger(total)) throw fail(`total ${total} is not a safe integer`);
    Object.assign(sketch, { epsilon, delta, width, depth, counters: values, total });
    return sketch;
  }

  /** Sum of all counts added (and merged) so far: N. */
  get totalCount(): number {
    return this.total;
  }

  /**
   * ⌈(e / width)·N⌉ ≤ ⌈ε·N⌉: with probability ≥ 1 − δ an estimate exceeds the true count by at
   * most this (see {@link countMinOvercountBound}).
   */
  errorBound(): number {
    return countMinOvercountBound(this.width, this.total);
  }

  /** Approximate heap bytes held by this sketch. */
  get memoryBytes(): number {
    return OBJECT_OVERHEAD_BYTES + TYPED_ARRAY_OVERHEAD_BYTES + this.counters.byteLength;
  }

  /**
   * Adds `count` (a non-negative safe integer) occurrences of the key whose 64-bit hash has
   * halves `hi`, `lo` (as {@link hash64} returns them).
   */
  add(hi: number, lo: number, count = 1): void {
    if (count !== 1) checkCount(count);
    const w = this.width;
    const cells = this.counters;
    const step = (hi >>> 0) % w;
    let column = (lo >>> 0) % w;
    for (let offset = 0; offset < cells.length; offset += w) {
      cells[offset + column]! += count;
      column += step;
      if (column >= w) column -= w;
    }
    this.total += count;
  }

  addHash(hash: Hash64, count = 1): void {
    this.add(hash.hi, hash.lo, count);
  }

  addString(key: string, count = 1): void {
    hash64(key, scratchHash);
    this.add(scratchHash.hi, scratchHash.lo, count);
  }

  /** The estimated count of a key: the minimum of its d counters (never below the truth). */
  estimate(hi: number, lo: number): number {
    const w = this.width;
    const cells = this.counters;
    const step = (hi >>> 0) % w;
    let column = (lo >>> 0) % w;
    let min = Number.POSITIVE_INFINITY;
    for (let offset = 0; offset < cells.length; offset += w) {
      const value = cells[offset + column]!;
      if (value < min) min = value;
      column += step;
      if (column >= w) column -= w;
    }
    return min;
  }

  estimateHash(hash: Hash64): number {
    return this.estimate(hash.hi, hash.lo);
  }

  estimateString(key: string): number {
    hash64(key, scratchHash);
    return this.estimate(scratchHash.hi, scratchHash.lo);
  }

  /**
   * The flattened (row-major, 0-based) index of the key's counter in each row: the cells whose
   * minimum is the estimate. For stores that keep {@link cells} as an array column and
   * estimate in SQL: estimate = min over rows of sum over sketches of cell[index].
   */
  cellIndexes(hi: number, lo: number): number[] {
    const w = this.width;
    const step = (hi >>> 0) % w;
    let column = (lo >>> 0) % w;
    const indexes: number[] = [];
    for (let row = 0; row < this.depth; row++) {
      indexes.push(row * w + column);
      column += step;
      if (column >= w) column -= w;
    }
    return indexes;
  }

  /** A copy of the depth × width counters, row-major (see {@link fromCells}). */
  cells(): Float64Array {
    return this.counters.slice();
  }

  /** Adds `other`'s counters into this sketch (same width and depth required) and returns this. */
  merge(other: CountMinSketch): this {
    if (!(other instanceof CountMinSketch)) {
      throw new PlatformError('PV_SKETCH_INCOMPATIBLE', 'CountMinSketch.merge needs a CountMinSketch');
    }
    if (other.width !== this.width || other.depth !== this.depth) {
      throw new PlatformError(
        'PV_SKETCH_INCOMPATIBLE',
        `cannot merge a CountMinSketch of ${other.depth}x${other.width} into one of ${this.depth}x${this.width} ` +
          `(epsilon ${other.epsilon} vs ${this.epsilon}, delta ${other.delta} vs ${this.delta})`,
      );
    }
    if (other === this) {
      for (let i = 0; i < this.counters.length; i++) this.counters[i]! *= 2;
      this.total *= 2;
      return this;
    }
    const mine = this.counters;
    const theirs = other.counters;
    for (let i = 0; i < mine.length; i++) mine[i]! += theirs[i]!;
    this.total += other.total;
    return this;
  }

  clone(): CountMinSketch {
    return CountMinSketch.fromCells(this.width, this.depth, this.counters, this.epsilon, this.delta);
  }

  /** Same shape, same total and same counters. */
  equals(other: CountMinSketch): boolean {
    if (other.width !== this.width || other.depth !== this.depth || other.total !== this.total) return false;
    for (let i = 0; i < this.counters.length; i++) if (this.counters[i] !== other.counters[i]) return false;
    return true;
  }

  /**
   * The versioned binary form (all integers little-endian):
   *
   *   0  u8   magic 0x43 ('C')
   *   1  u8   format version (1)
   *   2  f64  epsilon
   *   10 f64  delta
   *   18 u32  width  (must equal countMinWidth(epsilon))
   *   22 u32  depth  (must equal countMinDepth(delta))
   *   26 f64  total count N
   *   34      depth × width counters, row by row, each an unsigned LEB128 varint
   *   last 4 bytes: u32 checksum = low 32 bits of hash64 of all preceding bytes
   *
   * Every row sums to N, which deserialize checks too.
   */
  serialize(): Uint8Array {
    const cells = this.counters;
    let size = HEADER_BYTES + CHECKSUM_BYTES;
    for (let i = 0; i < cells.length; i++) {
      let v = cells[i]!;
      size++;
      while (v >= 128) {
        v = Math.floor(v / 128);
        size++;
      }
    }
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    out[0] = MAGIC;
    out[1] = COUNT_MIN_FORMAT_VERSION;
    view.setFloat64(2, this.epsilon, true);
    view.setFloat64(10, this.delta, true);
    view.setUint32(18, this.width, true);
    view.setUint32(22, this.depth, true);
    view.setFloat64(26, this.total, true);
    let pos = HEADER_BYTES;
    for (let i = 0; i < cells.length; i++) {
      let v = cells[i]!;
      while (v >= 128) {
        out[pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      out[pos++] = v;
    }
    view.setUint32(pos, checksum32(out, pos), true);
    return out;
  }

  /**
   * Reads {@link serialize}'s output. Anything else (wrong magic or version, bad checksum,
   * truncation, trailing bytes, inconsistent shape or counts) throws `PV_SKETCH_CORRUPT`.
   */
  static deserialize(bytes: Uint8Array): CountMinSketch {
    if (!(bytes instanceof Uint8Array)) throw corrupt('expected a Uint8Array');
    if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) throw corrupt(`too short (${bytes.length} bytes)`);
    if (bytes[0] !== MAGIC) throw corrupt('not a CountMinSketch (bad magic byte)');
    if (bytes[1] !== COUNT_MIN_FORMAT_VERSION) {
      throw corrupt(`unsupported format version ${bytes[1]} (this code reads version ${COUNT_MIN_FORMAT_VERSION})`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = bytes.length - CHECKSUM_BYTES;
    if (view.getUint32(end, true) !== checksum32(bytes, end)) throw corrupt('checksum mismatch');
    const epsilon = view.getFloat64(2, true);
    const delta = view.getFloat64(10, true);
    if (!(epsilon > 0 && epsilon < 1) || !(delta > 0 && delta < 1)) throw corrupt(`epsilon ${epsilon} or delta ${delta} out of (0, 1)`);
    if (Math.E / epsilon > MAX_CELLS || Math.log(1 / delta) > MAX_CELLS) throw corrupt(`epsilon ${epsilon} or delta ${delta} too small`);
    const width = view.getUint32(18, true);
    const depth = view.getUint32(22, true);
    if (width !== countMinWidth(epsilon) || depth !== countMinDepth(delta)) {
      throw corrupt(`shape ${depth}x${width} does not match epsilon ${epsilon} and delta ${delta}`);
    }
    if (width * depth > MAX_CELLS) throw corrupt(`${width * depth} cells is too many`);
    if (end - HEADER_BYTES < width * depth) throw corrupt('truncated counters');
    const total = view.getFloat64(26, true);
    if (!Number.isSafeInteger(total) || total < 0) throw corrupt(`total count ${total} is not a non-negative safe integer`);
    const sketch = new CountMinSketch(epsilon, delta);
    const cells = sketch.counters;
    let pos = HEADER_BYTES;
    for (let row = 0; row < depth; row++) {
      let rowSum = 0;
      for (let col = 0; col < width; col++) {
        let value = 0;
        let scale = 1;
        for (;;) {
          if (pos >= end) throw corrupt('truncated counters');
          const byte = bytes[pos++]!;
          value += (byte & 0x7f) * scale;
          if (byte < 0x80) {
            if (byte === 0 && scale > 1) throw corrupt('non-canonical varint');
            break;
          }
          scale *= 128;
          if (scale > 2 ** 49) throw corrupt('counter varint too long');
        }
        if (value > total) throw corrupt(`a counter (${value}) exceeds the total count ${total}`);
        cells[row * width + col] = value;
        rowSum += value;
      }
      if (rowSum !== total) throw corrupt(`row ${row} sums to ${rowSum}, not the total count ${total}`);
    }
    if (pos !== end) throw corrupt(`${end - pos} unexpected trailing bytes`);
    sketch.total = total;
    return sketch;
  }

  toBase64(): string {
    const bytes = this.serialize();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }

  /** Reads {@link toBase64}'s output; invalid base64 or bytes throw `PV_SKETCH_CORRUPT`. */
  static fromBase64(text: string): CountMinSketch {
    return CountMinSketch.deserialize(decodeBase64(text, corrupt));
  }
}

/** Strict base64 (standard alphabet, padded): Buffer.from alone silently skips bad characters. */
function decodeBase64(text: unknown, fail: (reason: string) => Error): Uint8Array {
  if (typeof text !== 'string') throw fail('expected a base64 string');
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw fail('not valid base64');
  return new Uint8Array(Buffer.from(text, 'base64'));
}
