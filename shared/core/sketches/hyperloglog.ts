/**
 * HyperLogLog distinct counting (Flajolet et al. 2007) with Ertl's improved estimator
 * ("New cardinality estimation algorithms for HyperLogLog sketches", 2017), over the 64-bit
 * {@link hash64}. Relative standard error 1.04 / sqrt(2^p).
 *
 * Register update for a hash h (64 bits, big-endian bit order):
 *   index = h >>> (64 - p)                       (the top p bits)
 *   rank  = min(clz64(h << p), 64 - p) + 1       (1 .. 65 - p)
 *   register[index] = max(register[index], rank)
 *
 * Representation. A new sketch is sparse: the non-zero registers only, as (index << 6 | rank)
 * entries in an open-addressing hash table of 4 .. 2^p / 4 slots (linear probing on the
 * index's low bits, 0 = empty, load ≤ 3/4), exact at precision p, and an add is O(1) at any
 * precision. Up to 16 slots (12 registers) the table is a plain array of small integers, which
 * V8 keeps packed at 8 bytes a slot plus about 48 bytes; beyond, a Uint32Array (4 bytes a slot,
 * but about 185 bytes of V8 overhead). So an HLL of 1 to 3 visitors takes about 150 bytes of
 * heap in all (~21 bytes serialized for 3) instead of 2^p registers. It turns dense
 * (Uint8Array(2^p), one register per byte) when the table would have to outgrow the dense
 * array, i.e. beyond 3/16 · 2^p non-zero registers. Whatever the container (plain array,
 * Uint32Array or dense), the register values, hence the estimate, the serialized bytes and
 * merge results, are the same: the sparse tables hold the same entries in the same slots.
 *
 * Merging is register-wise max: merge(A, B) has exactly the registers of the sketch of A ∪ B.
 * Uniques over several buckets are the estimate of the merged sketch, never a sum of estimates.
 * Only sketches of the same precision merge (see {@link HLL_BATCH_PRECISION}).
 *
 * The binary form (serialize / deserialize, toBase64 / fromBase64) is in hyperloglog-codec.ts.
 */
import { PlatformError } from '../errors.ts';
import { hash64, type Hash64 } from './hash.ts';
import {
  HLL_MAX_PRECISION,
  HLL_MIN_PRECISION,
  RANK_BITS,
  RANK_MASK,
  decodeHll,
  encodeHll,
  hllBytesFromBase64,
} from './hyperloglog-codec.ts';

export { HLL_FORMAT_VERSION, HLL_MAX_PRECISION, HLL_MIN_PRECISION } from './hyperloglog-codec.ts';
export const HLL_DEFAULT_PRECISION = 14;
/** α∞ = 1 / (2 ln 2), Ertl's constant for the improved estimator. */
const ALPHA_INF = 1 / (2 * Math.LN2);
/**
 * Sparse tables of up to this many slots (12 entries) are plain arrays, larger ones are
 * Uint32Arrays (see Representation above). At 32 slots a plain array would be no smaller.
 */
const SMALL_TABLE_MAX_SLOTS = 16;
/**
 * V8 heap sizes (heapUsed + external, measured on Node 20, x64) used by
 * {@link HyperLogLog.memoryBytes}: the object; a plain array of small integers besides its
 * 8 bytes per slot; a typed array besides its bytes.
 */
const OBJECT_OVERHEAD_BYTES = 72;
const SMALL_TABLE_OVERHEAD_BYTES = 48;
const TYPED_ARRAY_OVERHEAD_BYTES = 185;

const scratchHash: Hash64 = { hi: 0, lo: 0 };

/** Ertl's σ(x) = x + Σ_{k≥1} x^(2^k) 2^(k-1), for the zero registers. */
function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY;
  let y = 1;
  let z = x;
  let previous: number;
  do {
    x *= x;
    previous = z;
    z += x * y;
    y += y;
  } while (z !== previous);
  return z;
}

/** Ertl's τ(x) = (1 - x - Σ_{k≥1} (1 - x^(2^-k))^2 2^-k) / 3, for the saturated registers. */
function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let previous: number;
  do {
    x = Math.sqrt(x);
    previous = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z !== previous);
  return z / 3;
}

/** Inserts an entry for an index absent from `table` (linear probing from the index's low bits). */
function insertEntry(table: Uint32Array, entry: number): void {
  const mask = table.length - 1;
  let slot = (entry >>> RANK_BITS) & mask;
  while (table[slot] !== 0) slot = (slot + 1) & mask;
  table[slot] = entry;
}

/** {@link insertEntry} for a small table (a copy, so that each stays monomorphic for V8). */
function insertSmallEntry(table: number[], entry: number): void {
  const mask = table.length - 1;
  let slot = (entry >>> RANK_BITS) & mask;
  while (table[slot] !== 0) slot = (slot + 1) & mask;
  table[slot] = entry;
}

/**
 * An empty small table of 4, 8 or 16 slots. Array literals, so that V8 makes them packed
 * arrays of small integers (PACKED_SMI_ELEMENTS) exactly `slots` long; entries are below
 * 2^24, so they stay small integers.
 */
function newSmallTable(slots: number): number[] {
  if (slots === 4) return [0, 0, 0, 0];
  if (slots === 8) return [0, 0, 0, 0, 0, 0, 0, 0];
  return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
}

/**
 * The one HyperLogLog precision the platform runs at. The batch layer stores its visitor
 * registers at this precision, and the speed layer's sketches must use the same one (the
 * configuration accepts only 14 for SPEED_HLL_PRECISION), because visitors across the batch
 * boundary are counted by merging both sides register by register. Sketches of different
 * precisions are never folded into one another: merging them throws PV_SKETCH_INCOMPATIBLE.
 */
export const HLL_BATCH_PRECISION = 14;

export interface HllRegister {
  index: number;
  rank: number;
}

/**
 * The register a 64-bit hash lands in at precision p: index = the top p bits, rank = the
 * position of the first 1 bit in the remaining 64 − p bits (1-based; 65 − p when all are 0).
 * The batch layer stores (index, rank) per visitor so the engine can build sketches of exact
 * inputs with `max(rank) GROUP BY index`.
 */
export function hllRegister(hi: number, lo: number, precision: number, out: HllRegister = { index: 0, rank: 0 }): HllRegister {
  out.index = hi >>> (32 - precision);
  const rest = hi << precision; // the 32 - p remaining bits of hi, left-aligned
  out.rank = rest !== 0 ? Math.clz32(rest) + 1 : 33 - precision + Math.clz32(lo);
  return out;
}

/**
 * The union of serialized sketches (toBase64 form): one sketch counting every visitor of any of
 * them once. Starts from an empty sketch of `precision` when given; otherwise null when there
 * are none. Sketches of different precisions throw PV_SKETCH_INCOMPATIBLE.
 */
export function unionOfEncoded(encoded: Iterable<string>, precision?: number): HyperLogLog | null {
  let union: HyperLogLog | null = precision === undefined ? null : new HyperLogLog(precision);
  for (const text of encoded) {
    const sketch = HyperLogLog.fromBase64(text);
    union = union === null ? sketch : union.merge(sketch);
  }
  return union;
}

export class HyperLogLog {
  /** p: the sketch has 2^p registers. */
  readonly precision: number;
  private readonly m: number;
  /** Dense registers, or null while sparse. */
  private dense: Uint8Array | null = null;
  /**
   * The sparse hash table of (index << 6 | rank) entries (0 = empty slot) while it has at most
   * {@link SMALL_TABLE_MAX_SLOTS} slots: a plain array of small integers. Null until the first
   * add and once the table is larger.
   */
  private small: number[] | null = null;
  /** The sparse hash table once larger than the small one; null before and once dense. */
  private sparse: Uint32Array | null = null;
  /** Number of entries in the sparse table (small or not). */
  private sparseSize = 0;

  constructor(precision: number = HLL_DEFAULT_PRECISION) {
    if (!Number.isInteger(precision) || precision < HLL_MIN_PRECISION || precision > HLL_MAX_PRECISION) {
      throw new RangeError(
        `HyperLogLog precision must be an integer in ${HLL_MIN_PRECISION}..${HLL_MAX_PRECISION}, got ${precision}`,
      );
    }
    this.precision = precision;
    this.m = 2 ** precision;
  }

  // maxRank and maxSlots are getters, not fields: every field is 8 more bytes per sketch.

  /** Largest possible register value, 65 - p. */
  private get maxRank(): number {
    return 65 - this.precision;
  }

  /** Most sparse table slots: 2^p / 4 (at 4 bytes a slot, the size of the dense registers). */
  private get maxSlots(): number {
    return this.m / 4;
  }

  /** The sparse table, small or not; null when empty or dense. Not for the hot path: two kinds of array. */
  private get table(): number[] | Uint32Array | null {
    return this.small ?? this.sparse;
  }

  /**
   * A sketch from registers (index → rank), e.g. the batch layer's `max(rank) GROUP BY index`
   * over exact visitors: equal to adding those visitors' hashes one by one.
   */
  static fromRegisters(precision: number, registers: Iterable<readonly [number, number]>): HyperLogLog {
    const sketch = new HyperLogLog(precision);
    for (const [index, rank] of registers) {
      if (!Number.isInteger(index) || index < 0 || index >= sketch.m || !Number.isInteger(rank) || rank < 0 || rank > sketch.maxRank) {
        throw new PlatformError('PV_SKETCH_CORRUPT', `invalid HyperLogLog register ${index} = ${rank} at precision ${precision}`);
      }
      if (rank > 0) sketch.raise(index, rank);
    }
    return sketch;
  }

  /** A sketch holding the union of `sketches` (all of precision `precision`). */
  static union(sketches: Iterable<HyperLogLog>, precision: number = HLL_DEFAULT_PRECISION): HyperLogLog {
    const result = new HyperLogLog(precision);
    for (const sketch of sketches) result.merge(sketch);
    return result;
  }

  /** Number of registers, 2^p. */
  get registerCount(): number {
    return this.m;
  }

  /** 1.04 / sqrt(2^p): the relative standard error of {@link estimate}. */
  get relativeStandardError(): number {
    return 1.04 / Math.sqrt(this.m);
  }

  get isSparse(): boolean {
    return this.dense === null;
  }

  /** True when nothing was added. */
  get isEmpty(): boolean {
    if (this.dense === null) return this.sparseSize === 0;
    return this.dense.every((r) => r === 0);
  }

  /** Approximate heap bytes held by this sketch (object + register storage). */
  get memoryBytes(): number {
    if (this.dense !== null) return OBJECT_OVERHEAD_BYTES + TYPED_ARRAY_OVERHEAD_BYTES + this.dense.byteLength;
    if (this.sparse !== null) return OBJECT_OVERHEAD_BYTES + TYPED_ARRAY_OVERHEAD_BYTES + this.sparse.byteLength;
    if (this.small !== null) return OBJECT_OVERHEAD_BYTES + SMALL_TABLE_OVERHEAD_BYTES + 8 * this.small.length;
    return OBJECT_OVERHEAD_BYTES;
  }

  /**
   * Adds a 64-bit hash given as its two 32-bit halves (as {@link hash64} returns them:
   * value = hi * 2^32 + lo; int32 representations of the halves work too). Halves, not a
   * bigint, because that is what the hash produces without allocation. Returns true when a
   * register changed (the sketch is dirty).
   */
  add(hi: number, lo: number): boolean {
    // hllRegister, written out: V8 inlines add into its callers only while add is small.
    const precision = this.precision;
    const index = hi >>> (32 - precision);
    const rest = hi << precision;
    const rank = rest !== 0 ? Math.clz32(rest) + 1 : 33 - precision + Math.clz32(lo);
    const dense = this.dense;
    if (dense !== null) {
      if (rank > dense[index]!) {
        dense[index] = rank;
        return true;
      }
      return false;
    }
    return this.addSparse(index, rank);
  }

  /** Adds a {@link Hash64}. */
  addHash(hash: Hash64): boolean {
    return this.add(hash.hi, hash.lo);
  }

  /** Adds a string (hashed with {@link hash64}). */
  addString(value: string): boolean {
    hash64(value, scratchHash);
    return this.add(scratchHash.hi, scratchHash.lo);
  }

  /*
   * Sparse adds. The probing and the load rule are the same for both kinds of table, but
   * written out once per kind (addSparse for the Uint32Array, addSmall for the plain array) so
   * that every element access V8 optimizes sees one kind of array; code shared by both was
   * about twice as slow. What is not needed on every add is in grow, to keep add small enough
   * for V8 to inline it into its callers.
   */

  private addSparse(index: number, rank: number): boolean {
    const table = this.sparse;
    if (table === null) return this.addSmall(index, rank);
    const mask = table.length - 1;
    let slot = index & mask;
    for (;;) {
      const entry = table[slot]!;
      if (entry === 0) break;
      if (entry >>> RANK_BITS === index) {
        if (rank <= (entry & RANK_MASK)) return false;
        table[slot] = (index << RANK_BITS) | rank;
        return true;
      }
      slot = (slot + 1) & mask;
    }
    // A new register: into the empty slot if the table stays at most 3/4 full.
    if ((this.sparseSize + 1) * 4 > table.length * 3) return this.grow(index, rank);
    table[slot] = (index << RANK_BITS) | rank;
    this.sparseSize++;
    return true;
  }

  private addSmall(index: number, rank: number): boolean {
    const table = this.small;
    if (table === null) {
      // The first register: a table of 4 slots.
      const first = [0, 0, 0, 0];
      first[index & 3] = (index << RANK_BITS) | rank;
      this.small = first;
      this.sparseSize = 1;
      return true;
    }
    const mask = table.length - 1;
    let slot = index & mask;
    for (;;) {
      const entry = table[slot]!;
      if (entry === 0) break;
      if (entry >>> RANK_BITS === index) {
        if (rank <= (entry & RANK_MASK)) return false;
        table[slot] = (index << RANK_BITS) | rank;
        return true;
      }
      slot = (slot + 1) & mask;
    }
    if ((this.sparseSize + 1) * 4 > table.length * 3) return this.grow(index, rank);
    table[slot] = (index << RANK_BITS) | rank;
    this.sparseSize++;
    return true;
  }

  /**
   * Adds a register that the full sparse table has no room for: into a table twice as large
   * (plain up to {@link SMALL_TABLE_MAX_SLOTS} slots, a Uint32Array beyond), or into the dense
   * registers when the table is as large as allowed.
   */
  private grow(index: number, rank: number): true {
    const small = this.small;
    const sparse = this.sparse;
    const slots = small !== null ? small.length : sparse!.length;
    if (slots >= this.maxSlots) {
      this.toDense()[index] = rank;
      return true;
    }
    const entry = (index << RANK_BITS) | rank;
    if (small !== null && slots < SMALL_TABLE_MAX_SLOTS) {
      const table = newSmallTable(slots * 2);
      for (let i = 0; i < small.length; i++) if (small[i] !== 0) insertSmallEntry(table, small[i]!);
      insertSmallEntry(table, entry);
      this.small = table;
    } else {
      const table = new Uint32Array(slots * 2);
      if (small !== null) {
        for (let i = 0; i < small.length; i++) if (small[i] !== 0) insertEntry(table, small[i]!);
      } else {
        for (let i = 0; i < sparse!.length; i++) if (sparse![i] !== 0) insertEntry(table, sparse![i]!);
      }
      insertEntry(table, entry);
      this.small = null;
      this.sparse = table;
    }
    this.sparseSize++;
    return true;
  }

  /** The sparse entries sorted by index (a copy). */
  private sortedEntries(): Uint32Array {
    const entries = new Uint32Array(this.sparseSize);
    const table = this.table;
    if (table !== null) {
      let n = 0;
      for (let i = 0; i < table.length; i++) if (table[i] !== 0) entries[n++] = table[i]!;
    }
    return entries.sort();
  }

  /** Switches to the dense representation and returns the registers. */
  private toDense(): Uint8Array {
    if (this.dense !== null) return this.dense;
    const dense = new Uint8Array(this.m);
    const table = this.table;
    if (table !== null) {
      for (let i = 0; i < table.length; i++) {
        const entry = table[i]!;
        if (entry !== 0) dense[entry >>> RANK_BITS] = entry & RANK_MASK;
      }
    }
    this.dense = dense;
    this.small = null;
    this.sparse = null;
    this.sparseSize = 0;
    return dense;
  }

  /**
   * Folds `other` into this sketch (register-wise max) and returns this. Afterwards this sketch
   * has exactly the registers of the sketch of the union of both inputs.
   */
  merge(other: HyperLogLog): this {
    if (!(other instanceof HyperLogLog)) {
      throw new PlatformError('PV_SKETCH_INCOMPATIBLE', 'HyperLogLog.merge needs a HyperLogLog');
    }
    if (other.precision !== this.precision) {
      throw new PlatformError(
        'PV_SKETCH_INCOMPATIBLE',
        `cannot merge HyperLogLog sketches of precision ${other.precision} into precision ${this.precision}`,
      );
    }
    if (other === this) return this;
    if (other.dense !== null) {
      const mine = this.toDense();
      const theirs = other.dense;
      for (let i = 0; i < mine.length; i++) {
        if (theirs[i]! > mine[i]!) mine[i] = theirs[i]!;
      }
      return this;
    }
    const theirs = other.table;
    if (theirs === null) return this;
    for (let i = 0; i < theirs.length; i++) {
      const entry = theirs[i]!;
      if (entry !== 0) this.raise(entry >>> RANK_BITS, entry & RANK_MASK);
    }
    return this;
  }

  /** register[index] = max(register[index], rank), in either representation. */
  private raise(index: number, rank: number): void {
    const dense = this.dense;
    if (dense === null) this.addSparse(index, rank);
    else if (rank > dense[index]!) dense[index] = rank;
  }

  /**
   * The estimated number of distinct hashes added (a float; 0 for an empty sketch), by Ertl's
   * improved raw estimator, which needs no bias tables or range switches and has relative
   * standard error ≈ {@link relativeStandardError} over the whole range.
   */
  estimate(): number {
    const q = 64 - this.precision;
    const counts = new Float64Array(q + 2); // counts[k] = number of registers equal to k
    if (this.dense !== null) {
      const dense = this.dense;
      for (let i = 0; i < dense.length; i++) counts[dense[i]!]!++;
    } else {
      counts[0] = this.m - this.sparseSize;
      const table = this.table;
      if (table !== null) {
        for (let i = 0; i < table.length; i++) if (table[i] !== 0) counts[table[i]! & RANK_MASK]!++;
      }
    }
    const m = this.m;
    let z = m * tau(1 - counts[q + 1]! / m);
    for (let k = q; k >= 1; k--) z = 0.5 * (z + counts[k]!);
    z += m * sigma(counts[0]! / m);
    return (ALPHA_INF * m * m) / z;
  }

  /** A copy of the 2^p registers (whatever the representation). */
  registers(): Uint8Array {
    if (this.dense !== null) return this.dense.slice();
    const registers = new Uint8Array(this.m);
    const table = this.table;
    if (table !== null) {
      for (let i = 0; i < table.length; i++) {
        const entry = table[i]!;
        if (entry !== 0) registers[entry >>> RANK_BITS] = entry & RANK_MASK;
      }
    }
    return registers;
  }

  /** Same precision and same registers (the representation does not matter). */
  equals(other: HyperLogLog): boolean {
    if (other.precision !== this.precision) return false;
    const a = this.registers();
    const b = other.registers();
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  clone(): HyperLogLog {
    const copy = new HyperLogLog(this.precision);
    copy.dense = this.dense === null ? null : this.dense.slice();
    copy.small = this.small === null ? null : this.small.slice();
    copy.sparse = this.sparse === null ? null : this.sparse.slice();
    copy.sparseSize = this.sparseSize;
    return copy;
  }

  /** The versioned binary form described in hyperloglog-codec.ts. */
  serialize(): Uint8Array {
    if (this.dense !== null) return encodeHll({ precision: this.precision, encoding: 'dense', registers: this.dense });
    return encodeHll({ precision: this.precision, encoding: 'sparse', entries: this.sortedEntries() });
  }

  /**
   * Reads {@link serialize}'s output. Anything else (wrong magic or version, bad checksum,
   * truncation, trailing bytes, out-of-range values) throws PlatformError `PV_SKETCH_CORRUPT`.
   */
  static deserialize(bytes: Uint8Array): HyperLogLog {
    const content = decodeHll(bytes);
    const sketch = new HyperLogLog(content.precision);
    if (content.encoding === 'dense') {
      sketch.dense = content.registers;
      return sketch;
    }
    const entries = content.entries;
    // turns dense if there are more entries than a sparse sketch holds
    for (let i = 0; i < entries.length; i++) sketch.raise(entries[i]! >>> RANK_BITS, entries[i]! & RANK_MASK);
    return sketch;
  }

  toBase64(): string {
    const bytes = this.serialize();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }

  /** Reads {@link toBase64}'s output; invalid base64 or bytes throw `PV_SKETCH_CORRUPT`. */
  static fromBase64(text: string): HyperLogLog {
    return HyperLogLog.deserialize(hllBytesFromBase64(text));
  }
}
