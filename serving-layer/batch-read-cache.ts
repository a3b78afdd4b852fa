/**
 * Caches the batch part of answers. A published batch version never changes, so a read of
 * version X with the same arguments always gives the same rows: entries are keyed by the
 * batch id and never go stale; they only age out (least recently used first) when a new
 * boundary makes them unused. Speed reads are never cached.
 */
import type { ViewReader } from '../shared/adapters/view-store/index.ts';

const CACHED = new Set<string>(['batchViews', 'batchVisitors', 'batchVisitorsByDay', 'batchVisitorRegisters', 'batchPageTotals']);

/**
 * Read for every request but changed rarely: kept for `ttlMs`. A boundary at most that old is
 * still safe: the previous batch version is kept after a publish, and speed retention keeps
 * a margin before the boundary.
 */
const SHORT_LIVED = new Set<string>(['latestBoundary', 'speedRetainedFrom']);

export interface BatchReadCacheOptions {
  /** Most batch reads kept (least recently used dropped first). @default 2000 */
  maxEntries?: number;
  /** How long the boundary and the speed retention point are reused (ms); 0 reads them every time. */
  ttlMs: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

export function withBatchReadCache<S extends ViewReader>(store: S, options: BatchReadCacheOptions): S {
  const maxEntries = options.maxEntries ?? 2000;
  const { ttlMs } = options;
  const clock = options.now ?? Date.now;
  const entries = new Map<string, Promise<unknown>>();
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
          return hit;
        }
        const result = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        entries.set(key, result);
        result.catch(() => entries.delete(key)); // failures are not cached
        while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
        return result;
      };
    },
  });
}
