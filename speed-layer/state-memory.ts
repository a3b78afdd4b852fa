/**
 * What the speed layer's per-partition states share about memory: the byte budget they count
 * against, the estimated V8 sizes of their entries, when eviction passes run, and the resident
 * window (partition-state.ts, session-state.ts).
 */
import { bucketStart } from '../shared/core/time-buckets.ts';

/**
 * Bytes of speed state held by every partition of a speed layer, against its budget. Estimated
 * from the entries' V8 sizes (measured on Node 20, x64; see MEMORY_BYTES): exact to within the
 * allocator's rounding, which the memory benchmark checks against the live heap.
 */
export class ByteBudget {
  used = 0;
  constructor(readonly limit: number) {}
  get full(): boolean {
    return this.used >= this.limit;
  }
}

/**
 * Estimated V8 sizes of the state's entries, in bytes (Node 20, x64; measured with heap
 * snapshots and `process.memoryUsage()` against the benchmark's state-alone worker): the object
 * and its slot in the list or map that holds it. A page: its entry, its two bucket arrays (array
 * and backing store headers) and its slot in the site's Map (hash tables run about half full, and
 * grow by doubling). A
 * string: the header and its characters, rounded to 8 bytes (one byte per character, as URLs
 * mostly are). Sketches report their own sizes (HyperLogLog, Count-Min).
 */
export const MEMORY_BYTES = {
  counter: 72 + 8,
  visitorsEntry: 88 + 8,
  overflowEntry: 64 + 8,
  page: 40 + 2 * 48 + 96,
  site: 64 + 3 * 48 + 200 + 56,
  /** A late-lane entry's slot in the lane's Map, besides the entry and its key (not calibrated: lane entries are few and short-lived). */
  laneSlot: 48,
  string: (s: string) => 16 + 8 * Math.ceil(s.length / 8),
  /** An array of `n` references. */
  array: (n: number) => 32 + 8 * n,
} as const;

/** The first resident minute at `now`. */
export function residentFromAt(now: number, hotWindowMs: number): number {
  return bucketStart(now - hotWindowMs, 'minute');
}

/** Eviction passes run at most this often (ms), or at every checkpoint while the byte budget is full. */
export const EVICTION_PASS_MS = 30_000;
