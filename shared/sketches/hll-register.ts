/**
 * The HyperLogLog register a 64-bit hash lands in: index = the top p bits, rank = the
 * position of the first 1 bit in the remaining 64 − p bits (1-based; 65 − p when all are 0).
 * HyperLogLog.add uses the same rule; the batch layer stores (index, rank) per visitor so the
 * engine can build exact-input sketches with `max(rank) GROUP BY index`.
 */

/** Precision of the batch layer's stored visitor registers (speed sketches are folded to it for a union). */
export const HLL_BATCH_PRECISION = 14;

export interface HllRegister {
  index: number;
  rank: number;
}

export function hllRegister(hi: number, lo: number, precision: number, out: HllRegister = { index: 0, rank: 0 }): HllRegister {
  out.index = hi >>> (32 - precision);
  const rest = hi << precision;
  out.rank = rest !== 0 ? Math.clz32(rest) + 1 : 33 - precision + Math.clz32(lo);
  return out;
}
