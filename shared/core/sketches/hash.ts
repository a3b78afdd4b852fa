/**
 * The one 64-bit hash used by every sketch (HyperLogLog, Count-Min) and by any SQL that must
 * agree with them.
 *
 * Definition (normative, see docs/sketches.md):
 *
 *   hash64(s) = h1 XOR h2, where (h1, h2) = MurmurHash3_x64_128(UTF-8 bytes of s, seed 0)
 *
 * MurmurHash3_x64_128 is Austin Appleby's reference function (SMHasher's `MurmurHash3.cpp`);
 * h1 and h2 are the two 64-bit words it writes, i.e. the first and second 8 bytes of its output
 * read little-endian. This is exactly ClickHouse's `murmurHash3_64(s)` for one String argument
 * (18.16 and current), so SQL can compute the same value. Strings are encoded as the WHATWG
 * TextEncoder does (lone surrogates become U+FFFD).
 *
 * Speed: the 64-bit arithmetic runs on pairs of 32-bit halves (no BigInt), the result is
 * written into a caller-owned {@link Hash64} to avoid allocation, and ASCII strings are hashed
 * straight from their char codes (no UTF-8 encoding step); other strings go through
 * TextEncoder.encodeInto into a reused buffer.
 */

/** A 64-bit hash as two unsigned 32-bit halves: value = hi * 2^32 + lo. */
export interface Hash64 {
  hi: number;
  lo: number;
}

// MurmurHash3_x64_128 constants, as (high 32 bits, low 32 bits).
const C1_HI = 0x87c37b91;
const C1_LO = 0x114253d5;
const C2_HI = 0x4cf5ad43;
const C2_LO = 0x2745937f;
const F1_HI = 0xff51afd7;
const F1_LO = 0xed558ccd;
const F2_HI = 0xc4ceb9fe;
const F2_LO = 0x1a85ec53;
// 16-bit limbs of the low halves.
const C1_LO_0 = C1_LO & 0xffff;
const C1_LO_1 = C1_LO >>> 16;
const C2_LO_0 = C2_LO & 0xffff;
const C2_LO_1 = C2_LO >>> 16;
const F1_LO_0 = F1_LO & 0xffff;
const F1_LO_1 = F1_LO >>> 16;
const F2_LO_0 = F2_LO & 0xffff;
const F2_LO_1 = F2_LO >>> 16;

/** Output of {@link murmurCore}: h1 and h2 as int32 halves. */
let outH1Hi = 0;
let outH1Lo = 0;
let outH2Hi = 0;
let outH2Lo = 0;

/** Byte i of the input: from the byte array, or (ASCII fast path) the string's char code. */
function at(b: Uint8Array | null, s: string, i: number): number {
  return b !== null ? b[i]! : s.charCodeAt(i);
}

/**
 * MurmurHash3_x64_128 of bytes[0, len) with a 32-bit seed; the result is left in outH1Hi..outH2Lo.
 * The bytes come from `b`, or, when `b` is null, from the char codes of `s` (valid only when all
 * are < 0x80, i.e. ASCII, where char codes and UTF-8 bytes coincide). Returns false when some
 * char code was >= 0x80 (the result is then meaningless and the caller must hash UTF-8 bytes).
 *
 * Every 64-bit value is a pair of int32 locals (xh, xl). A product x * C mod 2^64 is
 *   low  = imul(xl, CL)
 *   high = hi32(xl * CL) + imul(xh, CL) + imul(xl, CH)   (mod 2^32)
 * where hi32(xl * CL) is computed exactly from 16-bit limbs in doubles. The code is written out
 * inline (no helper returning two values) because that is what keeps it in registers.
 */
function murmurCore(b: Uint8Array | null, s: string, len: number, seed: number): boolean {
  let h1h = 0;
  let h1l = seed | 0;
  let h2h = 0;
  let h2l = seed | 0;
  let k1h = 0;
  let k1l = 0;
  let k2h = 0;
  let k2l = 0;
  let t = 0;
  let lo = 0;
  let a0 = 0;
  let a1 = 0;
  let c = 0;
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  let v = 0;
  let wide = 0;
  const blockEnd = len - (len & 15);

  for (let i = 0; i < blockEnd; i += 16) {
    if (b !== null) {
      k1l = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
      k1h = b[i + 4]! | (b[i + 5]! << 8) | (b[i + 6]! << 16) | (b[i + 7]! << 24);
      k2l = b[i + 8]! | (b[i + 9]! << 8) | (b[i + 10]! << 16) | (b[i + 11]! << 24);
      k2h = b[i + 12]! | (b[i + 13]! << 8) | (b[i + 14]! << 16) | (b[i + 15]! << 24);
    } else {
      c0 = s.charCodeAt(i);
      c1 = s.charCodeAt(i + 1);
      c2 = s.charCodeAt(i + 2);
      c3 = s.charCodeAt(i + 3);
      wide |= c0 | c1 | c2 | c3;
      k1l = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
      c0 = s.charCodeAt(i + 4);
      c1 = s.charCodeAt(i + 5);
      c2 = s.charCodeAt(i + 6);
      c3 = s.charCodeAt(i + 7);
      wide |= c0 | c1 | c2 | c3;
      k1h = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
      c0 = s.charCodeAt(i + 8);
      c1 = s.charCodeAt(i + 9);
      c2 = s.charCodeAt(i + 10);
      c3 = s.charCodeAt(i + 11);
      wide |= c0 | c1 | c2 | c3;
      k2l = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
      c0 = s.charCodeAt(i + 12);
      c1 = s.charCodeAt(i + 13);
      c2 = s.charCodeAt(i + 14);
      c3 = s.charCodeAt(i + 15);
      wide |= c0 | c1 | c2 | c3;
      k2h = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    }

    // k1 *= c1; k1 = rotl(k1, 31); k1 *= c2; h1 ^= k1
    a0 = k1l & 0xffff;
    a1 = k1l >>> 16;
    c = ((a0 * C1_LO_0) >>> 16) + a1 * C1_LO_0 + a0 * C1_LO_1;
    k1h = (a1 * C1_LO_1 + ((c / 65536) | 0) + Math.imul(k1h, C1_LO) + Math.imul(k1l, C1_HI)) | 0;
    k1l = Math.imul(k1l, C1_LO);
    t = k1h;
    k1h = (k1h << 31) | (k1l >>> 1);
    k1l = (k1l << 31) | (t >>> 1);
    a0 = k1l & 0xffff;
    a1 = k1l >>> 16;
    c = ((a0 * C2_LO_0) >>> 16) + a1 * C2_LO_0 + a0 * C2_LO_1;
    k1h = (a1 * C2_LO_1 + ((c / 65536) | 0) + Math.imul(k1h, C2_LO) + Math.imul(k1l, C2_HI)) | 0;
    k1l = Math.imul(k1l, C2_LO);
    h1h ^= k1h;
    h1l ^= k1l;
    // h1 = rotl(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729
    t = h1h;
    h1h = (h1h << 27) | (h1l >>> 5);
    h1l = (h1l << 27) | (t >>> 5);
    lo = (h1l >>> 0) + (h2l >>> 0);
    h1h = (h1h + h2h + (lo > 0xffffffff ? 1 : 0)) | 0;
    h1l = lo | 0;
    lo = ((h1l << 2) >>> 0) + (h1l >>> 0) + 0x52dce729;
    h1h = (((h1h << 2) | (h1l >>> 30)) + h1h + ((lo / 4294967296) | 0)) | 0;
    h1l = lo | 0;

    // k2 *= c2; k2 = rotl(k2, 33); k2 *= c1; h2 ^= k2
    a0 = k2l & 0xffff;
    a1 = k2l >>> 16;
    c = ((a0 * C2_LO_0) >>> 16) + a1 * C2_LO_0 + a0 * C2_LO_1;
    k2h = (a1 * C2_LO_1 + ((c / 65536) | 0) + Math.imul(k2h, C2_LO) + Math.imul(k2l, C2_HI)) | 0;
    k2l = Math.imul(k2l, C2_LO);
    t = k2h;
    k2h = (k2l << 1) | (k2h >>> 31);
    k2l = (t << 1) | (k2l >>> 31);
    a0 = k2l & 0xffff;
    a1 = k2l >>> 16;
    c = ((a0 * C1_LO_0) >>> 16) + a1 * C1_LO_0 + a0 * C1_LO_1;
    k2h = (a1 * C1_LO_1 + ((c / 65536) | 0) + Math.imul(k2h, C1_LO) + Math.imul(k2l, C1_HI)) | 0;
    k2l = Math.imul(k2l, C1_LO);
    h2h ^= k2h;
    h2l ^= k2l;
    // h2 = rotl(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5
    t = h2h;
    h2h = (h2h << 31) | (h2l >>> 1);
    h2l = (h2l << 31) | (t >>> 1);
    lo = (h2l >>> 0) + (h1l >>> 0);
    h2h = (h2h + h1h + (lo > 0xffffffff ? 1 : 0)) | 0;
    h2l = lo | 0;
    lo = ((h2l << 2) >>> 0) + (h2l >>> 0) + 0x38495ab5;
    h2h = (((h2h << 2) | (h2l >>> 30)) + h2h + ((lo / 4294967296) | 0)) | 0;
    h2l = lo | 0;
  }

  // Tail: the last len % 16 bytes, little-endian; bytes 8..14 go to k2, bytes 0..7 to k1.
  const tail = len & 15;
  const i = blockEnd;
  if (tail > 8) {
    k2h = 0;
    k2l = 0;
    if (tail >= 15) {
      v = at(b, s, i + 14);
      wide |= v;
      k2h ^= v << 16;
    }
    if (tail >= 14) {
      v = at(b, s, i + 13);
      wide |= v;
      k2h ^= v << 8;
    }
    if (tail >= 13) {
      v = at(b, s, i + 12);
      wide |= v;
      k2h ^= v;
    }
    if (tail >= 12) {
      v = at(b, s, i + 11);
      wide |= v;
      k2l ^= v << 24;
    }
    if (tail >= 11) {
      v = at(b, s, i + 10);
      wide |= v;
      k2l ^= v << 16;
    }
    if (tail >= 10) {
      v = at(b, s, i + 9);
      wide |= v;
      k2l ^= v << 8;
    }
    v = at(b, s, i + 8);
    wide |= v;
    k2l ^= v;
    // k2 *= c2; k2 = rotl(k2, 33); k2 *= c1; h2 ^= k2
    a0 = k2l & 0xffff;
    a1 = k2l >>> 16;
    c = ((a0 * C2_LO_0) >>> 16) + a1 * C2_LO_0 + a0 * C2_LO_1;
    k2h = (a1 * C2_LO_1 + ((c / 65536) | 0) + Math.imul(k2h, C2_LO) + Math.imul(k2l, C2_HI)) | 0;
    k2l = Math.imul(k2l, C2_LO);
    t = k2h;
    k2h = (k2l << 1) | (k2h >>> 31);
    k2l = (t << 1) | (k2l >>> 31);
    a0 = k2l & 0xffff;
    a1 = k2l >>> 16;
    c = ((a0 * C1_LO_0) >>> 16) + a1 * C1_LO_0 + a0 * C1_LO_1;
    k2h = (a1 * C1_LO_1 + ((c / 65536) | 0) + Math.imul(k2h, C1_LO) + Math.imul(k2l, C1_HI)) | 0;
    k2l = Math.imul(k2l, C1_LO);
    h2h ^= k2h;
    h2l ^= k2l;
  }
  if (tail > 0) {
    k1h = 0;
    k1l = 0;
    if (tail >= 8) {
      v = at(b, s, i + 7);
      wide |= v;
      k1h ^= v << 24;
    }
    if (tail >= 7) {
      v = at(b, s, i + 6);
      wide |= v;
      k1h ^= v << 16;
    }
    if (tail >= 6) {
      v = at(b, s, i + 5);
      wide |= v;
      k1h ^= v << 8;
    }
    if (tail >= 5) {
      v = at(b, s, i + 4);
      wide |= v;
      k1h ^= v;
    }
    if (tail >= 4) {
      v = at(b, s, i + 3);
      wide |= v;
      k1l ^= v << 24;
    }
    if (tail >= 3) {
      v = at(b, s, i + 2);
      wide |= v;
      k1l ^= v << 16;
    }
    if (tail >= 2) {
      v = at(b, s, i + 1);
      wide |= v;
      k1l ^= v << 8;
    }
    v = at(b, s, i);
    wide |= v;
    k1l ^= v;
    // k1 *= c1; k1 = rotl(k1, 31); k1 *= c2; h1 ^= k1
    a0 = k1l & 0xffff;
    a1 = k1l >>> 16;
    c = ((a0 * C1_LO_0) >>> 16) + a1 * C1_LO_0 + a0 * C1_LO_1;
    k1h = (a1 * C1_LO_1 + ((c / 65536) | 0) + Math.imul(k1h, C1_LO) + Math.imul(k1l, C1_HI)) | 0;
    k1l = Math.imul(k1l, C1_LO);
    t = k1h;
    k1h = (k1h << 31) | (k1l >>> 1);
    k1l = (k1l << 31) | (t >>> 1);
    a0 = k1l & 0xffff;
    a1 = k1l >>> 16;
    c = ((a0 * C2_LO_0) >>> 16) + a1 * C2_LO_0 + a0 * C2_LO_1;
    k1h = (a1 * C2_LO_1 + ((c / 65536) | 0) + Math.imul(k1h, C2_LO) + Math.imul(k1l, C2_HI)) | 0;
    k1l = Math.imul(k1l, C2_LO);
    h1h ^= k1h;
    h1l ^= k1l;
  }

  // Finalization: h ^= len; h1 += h2; h2 += h1; fmix64 both; h1 += h2; h2 += h1.
  const lenHi = (len / 4294967296) | 0;
  h1l ^= len;
  h1h ^= lenHi;
  h2l ^= len;
  h2h ^= lenHi;
  lo = (h1l >>> 0) + (h2l >>> 0);
  h1h = (h1h + h2h + (lo > 0xffffffff ? 1 : 0)) | 0;
  h1l = lo | 0;
  lo = (h2l >>> 0) + (h1l >>> 0);
  h2h = (h2h + h1h + (lo > 0xffffffff ? 1 : 0)) | 0;
  h2l = lo | 0;

  // fmix64: k ^= k >>> 33; k *= f1; k ^= k >>> 33; k *= f2; k ^= k >>> 33
  h1l ^= h1h >>> 1;
  a0 = h1l & 0xffff;
  a1 = h1l >>> 16;
  c = ((a0 * F1_LO_0) >>> 16) + a1 * F1_LO_0 + a0 * F1_LO_1;
  h1h = (a1 * F1_LO_1 + ((c / 65536) | 0) + Math.imul(h1h, F1_LO) + Math.imul(h1l, F1_HI)) | 0;
  h1l = Math.imul(h1l, F1_LO);
  h1l ^= h1h >>> 1;
  a0 = h1l & 0xffff;
  a1 = h1l >>> 16;
  c = ((a0 * F2_LO_0) >>> 16) + a1 * F2_LO_0 + a0 * F2_LO_1;
  h1h = (a1 * F2_LO_1 + ((c / 65536) | 0) + Math.imul(h1h, F2_LO) + Math.imul(h1l, F2_HI)) | 0;
  h1l = Math.imul(h1l, F2_LO);
  h1l ^= h1h >>> 1;

  h2l ^= h2h >>> 1;
  a0 = h2l & 0xffff;
  a1 = h2l >>> 16;
  c = ((a0 * F1_LO_0) >>> 16) + a1 * F1_LO_0 + a0 * F1_LO_1;
  h2h = (a1 * F1_LO_1 + ((c / 65536) | 0) + Math.imul(h2h, F1_LO) + Math.imul(h2l, F1_HI)) | 0;
  h2l = Math.imul(h2l, F1_LO);
  h2l ^= h2h >>> 1;
  a0 = h2l & 0xffff;
  a1 = h2l >>> 16;
  c = ((a0 * F2_LO_0) >>> 16) + a1 * F2_LO_0 + a0 * F2_LO_1;
  h2h = (a1 * F2_LO_1 + ((c / 65536) | 0) + Math.imul(h2h, F2_LO) + Math.imul(h2l, F2_HI)) | 0;
  h2l = Math.imul(h2l, F2_LO);
  h2l ^= h2h >>> 1;

  // h1 += h2; h2 += h1
  lo = (h1l >>> 0) + (h2l >>> 0);
  h1h = (h1h + h2h + (lo > 0xffffffff ? 1 : 0)) | 0;
  h1l = lo | 0;
  lo = (h2l >>> 0) + (h1l >>> 0);
  h2h = (h2h + h1h + (lo > 0xffffffff ? 1 : 0)) | 0;
  h2l = lo | 0;

  outH1Hi = h1h;
  outH1Lo = h1l;
  outH2Hi = h2h;
  outH2Lo = h2l;
  return wide < 0x80;
}

const encoder = new TextEncoder();
/** Reused UTF-8 buffer for non-ASCII strings: at least 3 bytes per UTF-16 code unit of the input. */
let scratch = new Uint8Array(256);

/** UTF-8 encodes `s` into `scratch` and returns the byte length. */
function encodeToScratch(s: string): number {
  if (s.length * 3 > scratch.length) {
    let size = scratch.length;
    while (size < s.length * 3) size *= 2;
    scratch = new Uint8Array(size);
  }
  return encoder.encodeInto(s, scratch).written;
}

function writeOut(out: Hash64 | undefined): Hash64 {
  const hi = (outH1Hi ^ outH2Hi) >>> 0;
  const lo = (outH1Lo ^ outH2Lo) >>> 0;
  if (out === undefined) return { hi, lo };
  out.hi = hi;
  out.lo = lo;
  return out;
}

/**
 * hash64 of a string's UTF-8 bytes. Pass `out` to reuse an object on hot paths (no allocation);
 * the same object is returned.
 */
export function hash64(s: string, out?: Hash64): Hash64 {
  // ASCII fast path: hash the char codes directly (they are the UTF-8 bytes); if any code unit
  // turns out to be >= 0x80, the result is discarded and the real UTF-8 bytes are hashed.
  if (!murmurCore(null, s, s.length, 0)) {
    const len = encodeToScratch(s); // may replace `scratch`: read it after
    murmurCore(scratch, '', len, 0);
  }
  return writeOut(out);
}

/** hash64 of raw bytes (same definition as {@link hash64} without the UTF-8 step). */
export function hash64Bytes(bytes: Uint8Array, out?: Hash64): Hash64 {
  murmurCore(bytes, '', bytes.length, 0);
  return writeOut(out);
}

/** The hash as an unsigned 64-bit bigint (for interop and tests; not for hot paths). */
export function hash64ToBigInt(h: Hash64): bigint {
  return (BigInt(h.hi >>> 0) << 32n) | BigInt(h.lo >>> 0);
}

/** Splits an unsigned 64-bit bigint (taken mod 2^64) into halves. */
export function hash64FromBigInt(value: bigint, out?: Hash64): Hash64 {
  const v = BigInt.asUintN(64, value);
  const hi = Number(v >> 32n);
  const lo = Number(v & 0xffffffffn);
  if (out === undefined) return { hi, lo };
  out.hi = hi;
  out.lo = lo;
  return out;
}

/**
 * The full MurmurHash3_x64_128 with a 32-bit seed, as its two 64-bit words [h1, h2]. Exposed
 * for known-answer tests and interop (the sketches use only {@link hash64}).
 */
export function murmurHash3x64_128(bytes: Uint8Array, seed = 0): [h1: bigint, h2: bigint] {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`murmurHash3x64_128 seed must be an unsigned 32-bit integer, got ${seed}`);
  }
  murmurCore(bytes, '', bytes.length, seed);
  return [
    (BigInt(outH1Hi >>> 0) << 32n) | BigInt(outH1Lo >>> 0),
    (BigInt(outH2Hi >>> 0) << 32n) | BigInt(outH2Lo >>> 0),
  ];
}

/**
 * The checksum that ends every serialized sketch: the low 32 bits of hash64 over bytes[0, end).
 * It detects accidental corruption (bit flips, truncation, splicing), not tampering.
 */
export function checksum32(bytes: Uint8Array, end: number): number {
  murmurCore(bytes.subarray(0, end), '', end, 0);
  return (outH1Lo ^ outH2Lo) >>> 0;
}
