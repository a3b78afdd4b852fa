/**
 * Space-Saving top-k (Metwally, Agrawal & El Abbadi 2005) with weighted updates and merging.
 *
 * The summary monitors at most `capacity` (k) keys, each with a count and an error. For a
 * stream of total count N:
 *
 *   count − error ≤ true(key) ≤ count             for every monitored key
 *   true(key) ≤ minCount ≤ N / k                  for every key that is not monitored
 *
 * so every key with true count > N/k is monitored, and a key whose count − error exceeds a
 * threshold certainly has a true count above it (a guaranteed heavy hitter).
 *
 * Update: a monitored key gains `count`; an unmonitored key takes the place of the key with
 * the smallest count c_min, with count c_min + count and error c_min (a min-heap finds it).
 *
 * Merge (the mergeable-summaries construction of Agarwal et al. 2012, in Space-Saving form as
 * in Cafaro et al. 2016): a key missing from a full summary is given that summary's minimum
 * count as both count and error (the most it can have had there; 0 for a summary that is not
 * full, which monitors every key it saw); counts and errors of the two sides are added, and the
 * k largest counts are kept. Both inequalities above hold for the merged summary with N the
 * sum of the totals.
 */
import { PlatformError } from '../errors.ts';

/** Keys must be strings or numbers: they are Map keys and go through JSON. */
export type SpaceSavingKey = string | number;

export interface TopItem<K> {
  key: K;
  /** Upper bound of the key's true count. */
  count: number;
  /** count − error is a lower bound of the key's true count. */
  error: number;
}

/** The JSON form of a summary (see {@link SpaceSaving.toJSON}). */
export interface SpaceSavingJSON<K> {
  version: 1;
  capacity: number;
  totalCount: number;
  /** [key, count, error], by decreasing count. */
  items: Array<[K, number, number]>;
}

interface Entry<K> {
  key: K;
  count: number;
  error: number;
  /** Position in the heap array. */
  pos: number;
}

function corrupt(reason: string): PlatformError {
  return new PlatformError('PV_SKETCH_CORRUPT', `invalid Space-Saving summary: ${reason}`);
}

function compareKeys(a: SpaceSavingKey, b: SpaceSavingKey): number {
  if (typeof a === typeof b) return a < b ? -1 : a > b ? 1 : 0;
  return typeof a === 'number' ? -1 : 1;
}

/** Order of the reported items: count descending, then error ascending, then key. */
function compareItems<K extends SpaceSavingKey>(a: TopItem<K>, b: TopItem<K>): number {
  return b.count - a.count || a.error - b.error || compareKeys(a.key, b.key);
}

/**
 * Heap order: count, then key. A total order, so the entry replaced next is unique and the
 * summary's evolution depends only on its contents, not on the heap's layout: a summary
 * restored from JSON continues exactly as the original would have.
 */
function less<K extends SpaceSavingKey>(a: Entry<K>, b: Entry<K>): boolean {
  return a.count < b.count || (a.count === b.count && compareKeys(a.key, b.key) < 0);
}

function checkCount(count: number): void {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`SpaceSaving count must be a non-negative safe integer, got ${count}`);
  }
}

export class SpaceSaving<K extends SpaceSavingKey = string> {
  /** k: the most keys monitored. */
  readonly capacity: number;
  private readonly entries = new Map<K, Entry<K>>();
  /** Min-heap of the entries by count. */
  private heap: Array<Entry<K>> = [];
  private total = 0;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`SpaceSaving capacity must be a whole number >= 1, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Number of keys monitored (≤ capacity). */
  get size(): number {
    return this.heap.length;
  }

  /** N: the sum of all counts added and merged. */
  get totalCount(): number {
    return this.total;
  }

  /**
   * The most an unmonitored key can have: the smallest monitored count when the summary is
   * full, else 0 (a summary that is not full monitors every key it has seen).
   */
  get minCount(): number {
    return this.heap.length < this.capacity ? 0 : this.heap[0]!.count;
  }

  /** Adds `count` (a non-negative safe integer) occurrences of `key`. */
  add(key: K, count = 1): void {
    if (count !== 1) checkCount(count);
    if (count === 0) return;
    this.total += count;
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      entry.count += count;
      this.siftDown(entry.pos);
      return;
    }
    const heap = this.heap;
    if (heap.length < this.capacity) {
      const added: Entry<K> = { key, count, error: 0, pos: heap.length };
      heap.push(added);
      this.entries.set(key, added);
      this.siftUp(added.pos);
      return;
    }
    const min = heap[0]!;
    this.entries.delete(min.key);
    min.key = key;
    min.error = min.count;
    min.count += count;
    this.entries.set(key, min);
    this.siftDown(0);
  }

  /** The key's bounds if it is monitored, else undefined (its true count is ≤ minCount). */
  get(key: K): TopItem<K> | undefined {
    const entry = this.entries.get(key);
    return entry === undefined ? undefined : { key: entry.key, count: entry.count, error: entry.error };
  }

  /** The `n` monitored keys with the largest counts (all of them by default), largest first. */
  top(n: number = this.capacity): Array<TopItem<K>> {
    const items = this.heap.map((e) => ({ key: e.key, count: e.count, error: e.error }));
    items.sort(compareItems);
    return items.slice(0, Math.max(0, n));
  }

  /**
   * Folds `other` (same capacity) into this summary and returns this. See the module comment
   * for the construction and its guarantees.
   */
  merge(other: SpaceSaving<K>): this {
    if (!(other instanceof SpaceSaving)) {
      throw new PlatformError('PV_SKETCH_INCOMPATIBLE', 'SpaceSaving.merge needs a SpaceSaving summary');
    }
    if (other.capacity !== this.capacity) {
      throw new PlatformError(
        'PV_SKETCH_INCOMPATIBLE',
        `cannot merge a Space-Saving summary of capacity ${other.capacity} into one of capacity ${this.capacity}`,
      );
    }
    const myMin = this.minCount;
    const theirMin = other.minCount;
    const combined: Array<TopItem<K>> = [];
    for (const mine of this.heap) {
      const theirs = other.entries.get(mine.key);
      combined.push({
        key: mine.key,
        count: mine.count + (theirs?.count ?? theirMin),
        error: mine.error + (theirs?.error ?? theirMin),
      });
    }
    for (const theirs of other.heap) {
      if (this.entries.has(theirs.key)) continue;
      combined.push({ key: theirs.key, count: myMin + theirs.count, error: myMin + theirs.error });
    }
    combined.sort(compareItems);
    this.rebuild(combined.slice(0, this.capacity));
    this.total += other.total;
    return this;
  }

  clone(): SpaceSaving<K> {
    const copy = new SpaceSaving<K>(this.capacity);
    copy.rebuild(this.top());
    copy.total = this.total;
    return copy;
  }

  /** A JSON-able copy: `{ version: 1, capacity, totalCount, items: [[key, count, error], ...] }`. */
  toJSON(): SpaceSavingJSON<K> {
    return {
      version: 1,
      capacity: this.capacity,
      totalCount: this.total,
      items: this.top().map((item): [K, number, number] => [item.key, item.count, item.error]),
    };
  }

  /**
   * Reads {@link toJSON}'s output (after JSON.parse). Anything inconsistent (unknown version,
   * more items than capacity, duplicate keys, counts that are not integers, error > count,
   * counts summing above the total) throws `PV_SKETCH_CORRUPT`.
   */
  static fromJSON<K extends SpaceSavingKey = string>(value: unknown): SpaceSaving<K> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('expected an object');
    const v = value as Record<string, unknown>;
    if (v['version'] !== 1) throw corrupt(`unsupported version ${String(v['version'])}`);
    const capacity = v['capacity'];
    const total = v['totalCount'];
    const items = v['items'];
    if (typeof capacity !== 'number' || !Number.isSafeInteger(capacity) || capacity < 1) throw corrupt(`bad capacity ${String(capacity)}`);
    if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < 0) throw corrupt(`bad totalCount ${String(total)}`);
    if (!Array.isArray(items)) throw corrupt('items must be an array');
    if (items.length > capacity) throw corrupt(`${items.length} items for capacity ${capacity}`);
    const seen = new Set<unknown>();
    const parsed: Array<TopItem<K>> = [];
    let sum = 0;
    for (const item of items as unknown[]) {
      if (!Array.isArray(item) || item.length !== 3) throw corrupt('each item must be [key, count, error]');
      const [key, count, error] = item as [unknown, unknown, unknown];
      if (typeof key !== 'string' && !(typeof key === 'number' && Number.isFinite(key))) throw corrupt('keys must be strings or finite numbers');
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) throw corrupt(`bad count ${String(count)}`);
      if (typeof error !== 'number' || !Number.isSafeInteger(error) || error < 0 || error > count) throw corrupt(`bad error ${String(error)}`);
      if (seen.has(key)) throw corrupt(`duplicate key ${JSON.stringify(key)}`);
      seen.add(key);
      sum += count;
      parsed.push({ key: key as K, count, error });
    }
    if (sum > total) throw corrupt(`counts sum to ${sum}, above the total ${total}`);
    const summary = new SpaceSaving<K>(capacity);
    summary.rebuild(parsed);
    summary.total = total;
    return summary;
  }

  /** Replaces the contents with `items` (at most capacity, distinct keys). */
  private rebuild(items: ReadonlyArray<TopItem<K>>): void {
    this.entries.clear();
    this.heap = items.map((item, pos) => ({ key: item.key, count: item.count, error: item.error, pos }));
    for (const entry of this.heap) this.entries.set(entry.key, entry);
    for (let i = (this.heap.length >>> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(pos: number): void {
    const heap = this.heap;
    const entry = heap[pos]!;
    while (pos > 0) {
      const parentPos = (pos - 1) >>> 1;
      const parent = heap[parentPos]!;
      if (!less(entry, parent)) break;
      heap[pos] = parent;
      parent.pos = pos;
      pos = parentPos;
    }
    heap[pos] = entry;
    entry.pos = pos;
  }

  private siftDown(pos: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[pos]!;
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && less(heap[child + 1]!, heap[child]!)) child++;
      const smallest = heap[child]!;
      if (!less(smallest, entry)) break;
      heap[pos] = smallest;
      smallest.pos = pos;
      pos = child;
    }
    heap[pos] = entry;
    entry.pos = pos;
  }
}
