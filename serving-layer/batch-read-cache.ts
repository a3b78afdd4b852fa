/**
 * Caches the batch part of answers. A published batch version never changes, so a read of
 * version X with the same arguments always gives the same rows: entries are keyed by the
 * batch id and never go stale; they only age out (least recently used first) when a new
 * boundary makes them unused. Speed reads are never cached.
 *
 * The cache is bounded by bytes, not entries: keys follow the clients' ranges, and one entry
 * (a site's page totals) can hold every page of a site. When a read resolves, its size is
 * estimated (estimateBytes) and least recently used entries are dropped until the total is
 * within the budget; a read larger than the whole budget is answered but not kept.
 */
import type { ViewReader } from '../shared/adapters/view-store/index.ts';

const CACHED = new Set<string>(['batchViews', 'batchVisitors', 'batchVisitorsByDay', 'batchVisitorRegisters', 'batchPageTotals', 'batchEventCounts', 'batchSessions', 'batchSessionPages']);

/**
 * Read for every request but changed rarely: kept for `ttlMs`. A boundary at most that old is
 * still safe: the previous batch version is kept after a publish, and speed retention keeps
 * a margin before the boundary.
 */
const SHORT_LIVED = new Set<string>(['latestBoundary', 'speedRetainedFrom']);

/** What the cache holds: estimated bytes of resolved reads, and entries (reads still pending included). */
export interface BatchReadCacheUsage {
  bytes: number;
  entries: number;
}

/** Why entries leave the cache: `budget` to stay within it (least recently used first), `too_large` when one read exceeds it alone. */
export type EvictionReason = 'budget' | 'too_large';

export interface BatchReadCacheOptions {
  /** Estimated bytes of batch reads kept (see estimateBytes); 0 keeps none. */
  budgetBytes: number;
  /** How long the boundary and the speed retention point are reused (ms); 0 reads them every time. */
  ttlMs: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
  /** Called whenever what the cache holds changes (for the pv_serving_cache_* gauges). */
  onUsage?: (usage: BatchReadCacheUsage) => void;
  /** Called for every entry dropped. */
  onEvict?: (reason: EvictionReason) => void;
}

/**
 * Estimated bytes held by a read's result, cheap to compute (one walk over the rows, no
 * serialization). It is meant to err on the high side of what V8 holds:
 * - a string: 16 (header) + 2 × its length (two-byte characters; V8 often stores one);
 * - a number, boolean, null or undefined: 8 (a slot; a heap number is counted with its slot);
 * - an array: 16 + 8 per element + the elements;
 * - an object (a row): 64 (header, hidden class, slots) + 2 × each key's length + the values;
 * - a Map: 64 + 32 per entry (hash table) + the keys and values.
 * A page-totals row `{ pageId, views }` with a 40-character page id is counted as 198 bytes (and
 * 8 for its slot in the array); V8 holds about 130 (measured on Node 20: one-byte strings).
 */
export function estimateBytes(value: unknown): number {
  if (typeof value === 'string') return 16 + 2 * value.length;
  if (typeof value !== 'object' || value === null) return 8;
  let bytes: number;
  if (Array.isArray(value)) {
    bytes = 16;
    for (const item of value as unknown[]) bytes += 8 + estimateBytes(item);
  } else if (value instanceof Map) {
    bytes = 64;
    for (const [k, v] of value as Map<unknown, unknown>) bytes += 32 + estimateBytes(k) + estimateBytes(v);
  } else {
    bytes = 64;
    for (const [k, v] of Object.entries(value)) bytes += 2 * k.length + estimateBytes(v);
  }
  return bytes;
}

interface Entry {
  value: Promise<unknown>;
  /** Null while the read is pending. */
  bytes: number | null;
}

export function withBatchReadCache<S extends ViewReader>(store: S, options: BatchReadCacheOptions): S {
  const { budgetBytes, ttlMs } = options;
  const clock = options.now ?? Date.now;
  /** In least-recently-used order: a hit is re-inserted last. */
  const entries = new Map<string, Entry>();
  let bytes = 0;
  const report = (): void => options.onUsage?.({ bytes, entries: entries.size });
  const drop = (key: string, entry: Entry, reason: EvictionReason | null): void => {
    entries.delete(key);
    if (entry.bytes !== null) bytes -= entry.bytes;
    if (reason !== null) options.onEvict?.(reason);
  };
  /** A resolved read: counted, then the least recently used resolved entries go until the total is within the budget. */
  const settle = (key: string, entry: Entry, result: unknown): void => {
    if (entries.get(key) !== entry) return; // dropped while pending
    const size = 2 * key.length + estimateBytes(result);
    if (size > budgetBytes) {
      drop(key, entry, 'too_large');
    } else {
      entry.bytes = size;
      bytes += size;
      for (const [k, e] of entries) {
        if (bytes <= budgetBytes) break;
        if (e.bytes !== null) drop(k, e, 'budget');
      }
    }
    report();
  };
  const shortLived = new Map<string, { at: number; value: Promise<unknown> }>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof property === 'string' && SHORT_LIVED.has(property) && ttlMs > 0) {
        return (): Promise<unknown> => {
          const now = clock();
          const hit = shortLived.get(property);
          if (hit !== undefined && now - hit.at < ttlMs) return hit.value;
          const fresh = (value as () => Promise<unknown>).apply(target);
          shortLived.set(property, { at: now, value: fresh });
          fresh.catch(() => shortLived.delete(property));
          return fresh;
        };
      }
      if (typeof property !== 'string' || !CACHED.has(property)) return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]): Promise<unknown> => {
        const key = `${property}\u0000${JSON.stringify(args)}`;
        const hit = entries.get(key);
        if (hit !== undefined) {
          entries.delete(key); // re-insert: most recently used last
          entries.set(key, hit);
          return hit.value;
        }
        const result = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        const entry: Entry = { value: result, bytes: null };
        entries.set(key, entry);
        report();
        result.then(
          (resolved) => settle(key, entry, resolved),
          () => {
            // Failures are not cached.
            if (entries.get(key) !== entry) return;
            drop(key, entry, null);
            report();
          },
        );
        return result;
      };
    },
  });
}
