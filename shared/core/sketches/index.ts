/** Bounded-memory, mergeable sketches for the speed layer (see docs/sketches.md). */
export { checksum32, hash64, hash64Bytes, hash64FromBigInt, hash64ToBigInt, murmurHash3x64_128, type Hash64 } from './hash.ts';
export {
  HLL_BATCH_PRECISION,
  HLL_DEFAULT_PRECISION,
  HLL_FORMAT_VERSION,
  HLL_MAX_PRECISION,
  HLL_MIN_PRECISION,
  HyperLogLog,
  hllRegister,
  unionOfEncoded,
  type HllRegister,
} from './hyperloglog.ts';
export { COUNT_MIN_DEFAULTS, COUNT_MIN_FORMAT_VERSION, CountMinSketch, countMinDepth, countMinOvercountBound, countMinWidth } from './count-min.ts';
export { SpaceSaving, type SpaceSavingJSON, type SpaceSavingKey, type TopItem } from './space-saving.ts';
