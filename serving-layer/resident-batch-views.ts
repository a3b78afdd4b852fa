/**
 * The published batch views of one batch id, held in the serving process. A published version
 * never changes, so a page's views are read from the store once, when a query first needs
 * them, and kept in compact form (typed arrays) while they fit the byte budget:
 *
 * - `views` of a page (or of the whole site): its page views per UTC day over the whole
 *   history, and per hour over the last `hourWindowDays` days before the boundary;
 * - `visitorDays` of a page (or of the site): its exact distinct visitors per UTC day.
 *
 * Least recently used blocks leave first when the budget is exceeded. A read these blocks
 * cannot answer (another batch id, hours before the hour window, a block larger than the whole
 * budget) goes to the store (through the batch read cache): still correct, just slower.
 *
 * A new boundary (`use`) swaps the whole set at once; a request that started on the previous
 * batch id reads that id from the store, where the previous version is kept after a publish.
 */
import { INTERVAL_MS, bucketCeil, bucketStart } from '../shared/core/time-buckets.ts';
import type { BatchBoundary, BatchGrain, BatchViewReader, BucketViews, DayVisitors, ViewQuery } from '../shared/adapters/view-store/index.ts';

const DAY_MS = INTERVAL_MS.day;
const HOUR_MS = INTERVAL_MS.hour;

/** Bytes of a block besides its arrays: the entry, its key and the typed arrays' headers (estimate). */
const BLOCK_OVERHEAD_BYTES = 400;
/** Bytes per held bucket: an Int32 bucket index and a Float64 value. */
export const BYTES_PER_BUCKET = 12;

/** Buckets with values, sorted: bucket index (bucket start / width) and value. */
interface Series {
  width: number;
  index: Int32Array;
  values: Float64Array;
}

interface ViewsBlock {
  kind: 'views';
  days: Series;
  /** Hours are held from here (a UTC day start) to the boundary. */
  hoursFrom: number;
  hours: Series;
}

interface VisitorDaysBlock {
  kind: 'visitorDays';
  days: Series;
}

type Block = ViewsBlock | VisitorDaysBlock;

interface Entry {
  block: Promise<Block>;
  /** Null while loading. */
  bytes: number | null;
}

export interface ResidentBatchViewsOptions {
  /** Bytes the blocks may hold now (the serving memory budget less what the speed views hold). */
  budgetBytes: () => number;
  /** Days before the boundary whose hours are held per page. @default 7 */
  hourWindowDays?: number;
  /** Called for each read the blocks cannot answer (it goes to the store). */
  onFallback?: () => void;
  /** Called when what the blocks hold changes. */
  onUsage?: (usage: { bytes: number; blocks: number }) => void;
}

function toSeries(rows: readonly { bucket: number; value: number }[], width: number): Series {
  const index = new Int32Array(rows.length);
  const values = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    index[i] = r.bucket / width;
    values[i] = r.value;
  });
  return { width, index, values };
}

/** The buckets of a series in [from, to), as rows. */
function slice<T>(series: Series, from: number, to: number, row: (bucket: number, value: number) => T): T[] {
  const { index, values, width } = series;
  const first = Math.ceil(from / width);
  let lo = 0;
  let hi = index.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (index[mid]! < first) lo = mid + 1;
    else hi = mid;
  }
  const out: T[] = [];
  for (let i = lo; i < index.length; i++) {
    const bucket = index[i]! * width;
    if (bucket >= to) break;
    out.push(row(bucket, values[i]!));
  }
  return out;
}

function seriesBytes(series: Series): number {
  return series.index.length * BYTES_PER_BUCKET;
}

export class ResidentBatchViews {
  private boundary: BatchBoundary | null = null;
  /** In least-recently-used order: a hit is re-inserted last. */
  private blocks = new Map<string, Entry>();
  private bytes = 0;
  private readonly hourWindowDays: number;

  /**
   * @param store where reads the blocks cannot answer go (the serving layer's cache of batch reads)
   * @param source where blocks are loaded from: the store itself, so that a block's rows are not
   *   kept a second time, as rows, in that cache
   */
  constructor(
    private readonly store: BatchViewReader,
    private readonly source: BatchViewReader,
    private readonly options: ResidentBatchViewsOptions,
  ) {
    this.hourWindowDays = options.hourWindowDays ?? 7;
  }

  /** What the blocks hold (estimated bytes, resolved blocks). */
  get usage(): { bytes: number; blocks: number } {
    return { bytes: this.bytes, blocks: this.blocks.size };
  }

  /** Makes `boundary`'s batch id the resident one; blocks of any other id are dropped at once. */
  use(boundary: BatchBoundary | null): void {
    if (boundary?.batchId === this.boundary?.batchId) return;
    this.boundary = boundary;
    this.blocks = new Map();
    this.bytes = 0;
    this.report();
  }

  /** The keys of the held blocks, most recently used last (to warm a new batch id with). */
  hotKeys(): string[] {
    return [...this.blocks.keys()];
  }

  async batchViews(batchId: string, query: ViewQuery, grain: BatchGrain = 'hour'): Promise<BucketViews[]> {
    const fromStore = (): Promise<BucketViews[]> => {
      this.options.onFallback?.();
      return this.store.batchViews(batchId, query, grain);
    };
    if (batchId !== this.boundary?.batchId) return fromStore();
    if (grain === 'hour' && query.from < this.hoursFrom(this.boundary.cutoffTime)) return fromStore();
    const block = await this.block('views', query);
    if (block === null || block.kind !== 'views') return fromStore();
    return slice(grain === 'day' ? block.days : block.hours, query.from, query.to, (bucket, views) => ({ bucket, views }));
  }

  async batchVisitorsByDay(batchId: string, query: ViewQuery): Promise<DayVisitors[]> {
    const block = batchId === this.boundary?.batchId ? await this.block('visitorDays', query) : null;
    if (block === null) {
      this.options.onFallback?.();
      return this.store.batchVisitorsByDay(batchId, query);
    }
    return slice(block.days, query.from, query.to, (bucket, visitors) => ({ bucket, visitors }));
  }

  /** Starts loading the blocks of these keys (from `hotKeys` of a previous batch id), one at a time. */
  async warm(keys: readonly string[]): Promise<void> {
    for (const key of keys.slice().reverse()) {
      const [kind, site, page] = key.split('\u0001') as [Block['kind'], string, string];
      await this.block(kind, { site, ...(page === '' ? {} : { pageId: page.slice(1) }), from: 0, to: 0 }).catch(() => null);
    }
  }

  private hoursFrom(cutoff: number): number {
    return bucketStart(cutoff, 'day') - this.hourWindowDays * DAY_MS;
  }

  /** The block of a page (or of the site), loaded on first use; null when it does not fit the budget. */
  private async block(kind: Block['kind'], query: ViewQuery): Promise<Block | null> {
    const boundary = this.boundary;
    if (boundary === null || this.options.budgetBytes() <= 0) return null;
    // '' is the site; a page id is prefixed so that no page id can be taken for the site.
    const key = `${kind}\u0001${query.site}\u0001${query.pageId === undefined ? '' : `/${query.pageId}`}`;
    const blocks = this.blocks;
    const hit = blocks.get(key);
    if (hit !== undefined) {
      blocks.delete(key);
      blocks.set(key, hit);
      return hit.block;
    }
    const entry: Entry = { block: this.load(kind, boundary, query), bytes: null };
    blocks.set(key, entry);
    let block: Block;
    try {
      block = await entry.block;
    } catch (err) {
      if (blocks.get(key) === entry) blocks.delete(key);
      throw err;
    }
    if (blocks === this.blocks && blocks.get(key) === entry) this.settle(key, entry, block);
    return block;
  }

  private async load(kind: Block['kind'], boundary: BatchBoundary, query: ViewQuery): Promise<Block> {
    const { batchId, cutoffTime } = boundary;
    const scope = { site: query.site, ...(query.pageId === undefined ? {} : { pageId: query.pageId }) };
    const allDays = { ...scope, from: 0, to: bucketCeil(cutoffTime, 'day') };
    if (kind === 'visitorDays') {
      const days = await this.source.batchVisitorsByDay(batchId, allDays);
      return { kind, days: toSeries(days.map((d) => ({ bucket: d.bucket, value: d.visitors })), DAY_MS) };
    }
    const hoursFrom = this.hoursFrom(cutoffTime);
    const [days, hours] = await Promise.all([
      this.source.batchViews(batchId, allDays, 'day'),
      this.source.batchViews(batchId, { ...scope, from: hoursFrom, to: cutoffTime }, 'hour'),
    ]);
    const rows = (r: readonly BucketViews[]): { bucket: number; value: number }[] => r.map((v) => ({ bucket: v.bucket, value: v.views }));
    return { kind, days: toSeries(rows(days), DAY_MS), hoursFrom, hours: toSeries(rows(hours), HOUR_MS) };
  }

  /** Counts a loaded block, then drops least recently used blocks until the total fits the budget. */
  private settle(key: string, entry: Entry, block: Block): void {
    const size = BLOCK_OVERHEAD_BYTES + 2 * key.length + seriesBytes(block.days) + (block.kind === 'views' ? seriesBytes(block.hours) : 0);
    entry.bytes = size;
    this.bytes += size;
    const budget = this.options.budgetBytes();
    for (const [k, e] of this.blocks) {
      if (this.bytes <= budget) break;
      if (e.bytes === null) continue;
      this.blocks.delete(k);
      this.bytes -= e.bytes;
    }
    this.report();
  }

  private report(): void {
    this.options.onUsage?.(this.usage);
  }
}
