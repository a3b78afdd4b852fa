/**
 * The views the serving process answers from: a ViewReader held in memory, fed from the view
 * store incrementally.
 *
 * - Every `refreshIntervalMs` (and whenever `refresh()` is called: the single-process mode
 *   calls it after each speed flush), one refresh reads the latest boundary, the speed
 *   checkpoints and the retention point, then the rows each partition wrote since the version
 *   it has applied, up to its checkpoint (`speedRowsSince`; a checkpoint is written after its
 *   rows, so they are all there), and applies them to the speed views (SpeedViewMirror).
 * - Batch views of the boundary's batch id are held per page (ResidentBatchViews), loaded on
 *   first use, within the memory budget together with the speed views.
 * - Until the first refresh has succeeded, or when the last one is older than
 *   `maxStalenessMs` (the store is down or slow), the views are `behind`: reads go to the store
 *   directly, and /api/v1/ready answers 503.
 *
 * The state after a refresh is a function of what the store held at the versions applied, so
 * two processes at the same `version` (batch id, retention point, checkpoint of every
 * partition) give the same answers. Each answer is computed from one state: a refresh swaps
 * it between two turns of the event loop, never in the middle of a synchronous read.
 */
import { createHash } from 'node:crypto';
import type { PlatformConfig } from '../shared/runtime/config.ts';
import type { Logger } from '../shared/runtime/logger.ts';
import type { PlatformMetrics } from '../shared/runtime/metrics.ts';
import type {
  BatchBoundary,
  BatchGrain,
  BatchVisitorsQuery,
  EventCount,
  EventCountsQuery,
  BatchRunRecord,
  BucketSessions,
  BucketViews,
  BucketVisitorSketches,
  DayVisitors,
  PageSessions,
  PageTotal,
  SpeedBucketViews,
  SpeedCheckpoint,
  SpeedFlush,
  SpeedRows,
  SpeedVersionRange,
  ViewQuery,
  ViewReader,
  VisitorsQuery,
} from '../shared/adapters/view-store/index.ts';
import { speedLaneOwner } from '../shared/adapters/view-store/index.ts';
import { PAGE_VIEW_LIMITS } from '../shared/core/page-view.ts';
import { withBatchReadCache } from './batch-read-cache.ts';
import { ResidentBatchViews } from './resident-batch-views.ts';
import { SpeedViewMirror } from './speed-view-mirror.ts';

export interface ServingViewsOptions {
  /** How often the views are refreshed from the store (ms). */
  refreshIntervalMs: number;
  /** Older views than this (ms since the last successful refresh) are `behind`: reads go to the store. */
  maxStalenessMs: number;
  /** Estimated bytes of speed views and resident batch blocks together. */
  memoryBudgetBytes: number;
  /** Estimated bytes of the cache of batch reads the blocks do not answer (visitor unions, page totals). */
  cacheBudgetBytes: number;
  /** Days before the boundary whose hours are held per page. @default 7 */
  hourWindowDays?: number;
  logger: Logger;
  metrics?: PlatformMetrics;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

const MIB = 1024 * 1024;
const EMPTY_ROWS: SpeedRows = { pageMinutes: [], overflow: [], visitors: [] };

export class ServingViews implements ViewReader {
  private readonly store: ViewReader;
  private readonly mirror = new SpeedViewMirror();
  private readonly batch: ResidentBatchViews;
  private readonly clock: () => number;
  /** Per partition: the checkpoint version whose rows are applied. */
  private readonly applied = new Map<number, number>();
  private checkpoints = new Map<number, SpeedCheckpoint>();
  private boundary: BatchBoundary | null = null;
  private retainedFrom: number | null = null;
  private refreshedAt = Number.NEGATIVE_INFINITY;
  private currentVersion = '';
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly changeListeners = new Set<() => void>();
  /** The sites of the batch id last asked for (a published batch version never changes). */
  private batchSiteList: { batchId: string; sites: Promise<string[]> } | null = null;

  /** @param store the view store (the serving layer only reads it) */
  constructor(
    store: ViewReader,
    private readonly options: ServingViewsOptions,
  ) {
    const { metrics } = options;
    this.clock = options.now ?? Date.now;
    this.store = withBatchReadCache(store, {
      ttlMs: 0,
      budgetBytes: options.cacheBudgetBytes,
      onUsage: ({ bytes, entries }) => {
        metrics?.servingCacheBytes.set(bytes);
        metrics?.servingCacheEntries.set(entries);
      },
      onEvict: (reason) => metrics?.servingCacheEvictions.inc({ reason }),
    });
    this.batch = new ResidentBatchViews(this.store, store, {
      budgetBytes: () => options.memoryBudgetBytes - this.mirror.bytes,
      ...(options.hourWindowDays === undefined ? {} : { hourWindowDays: options.hourWindowDays }),
      onUsage: ({ bytes }) => metrics?.servingMemoryBytes.set({ part: 'batch' }, bytes),
      onFallback: () => metrics?.servingFallbackReads.inc({ reason: 'outside' }),
    });
  }

  /** Views with the settings of `npm start` (SERVING_* variables, shared/runtime/environment.ts). */
  static fromConfig(store: ViewReader, config: PlatformConfig, logger: Logger, metrics: PlatformMetrics): ServingViews {
    return new ServingViews(store, {
      refreshIntervalMs: config.servingRefreshIntervalMs,
      maxStalenessMs: config.servingMaxStalenessMs,
      memoryBudgetBytes: config.servingMemoryBudgetMb * MIB,
      cacheBudgetBytes: config.servingCacheBudgetMb * MIB,
      hourWindowDays: config.servingBatchHoursDays,
      logger,
      metrics,
    });
  }

  /** Catches up from the store (waits for the first refresh; a failure is logged and retried), then refreshes every interval. */
  async start(): Promise<void> {
    await this.refresh().catch(() => undefined);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh()
        .catch(() => undefined)
        .finally(() => this.schedule());
    }, this.options.refreshIntervalMs);
    this.timer.unref();
  }

  /** True until the first refresh succeeds, and whenever the last success is older than maxStalenessMs. */
  get behind(): boolean {
    return this.clock() - this.refreshedAt > this.options.maxStalenessMs;
  }

  /** What the answers depend on: the batch id, the retention point and every partition's applied checkpoint (a short hash). */
  get version(): string {
    return this.currentVersion;
  }

  /**
   * Calls `listener` (synchronously, after the swap) whenever a refresh or a hand-off has changed
   * `version`; returns the function that stops it. A listener that throws is logged and kept.
   */
  onChange(listener: () => void): () => void {
    const own = (): void => listener();
    this.changeListeners.add(own);
    return () => {
      this.changeListeners.delete(own);
    };
  }

  private changed(before: string): void {
    if (this.currentVersion === before) return;
    for (const listener of [...this.changeListeners]) {
      try {
        listener();
      } catch (err) {
        this.options.logger.warn({ err }, 'serving views: a change listener failed');
      }
    }
  }

  /**
   * The sites with page views, by name: those of the boundary's batch version over all time
   * (read from the store once per batch id, then held) and those the speed views hold with views
   * at or after the boundary (memory). While `behind`, the speed side is what was last applied.
   */
  async sites(): Promise<string[]> {
    const boundary = await this.latestBoundary();
    let batch: Promise<string[]> = Promise.resolve([]);
    if (boundary !== null) {
      if (this.batchSiteList?.batchId !== boundary.batchId) {
        const sites = this.store.batchSites(boundary.batchId, PAGE_VIEW_LIMITS.minTimestampMs, boundary.cutoffTime);
        this.batchSiteList = { batchId: boundary.batchId, sites };
        // A failed read is not kept: the next call reads again.
        sites.catch(() => {
          if (this.batchSiteList?.sites === sites) this.batchSiteList = null;
        });
      }
      batch = this.batchSiteList.sites;
    }
    const speed = this.mirror.sitesWithViews(boundary === null ? Number.NEGATIVE_INFINITY : boundary.cutoffTime);
    return [...new Set([...(await batch), ...speed])].sort();
  }

  /** Estimated bytes held: the speed views and the resident batch blocks. */
  get memory(): { speed: number; batch: number } {
    return { speed: this.mirror.bytes, batch: this.batch.usage.bytes };
  }

  /**
   * Reads what changed in the store and applies it. Calls while one runs are folded into one
   * more run after it, so a caller always waits for a refresh that started after its call.
   * After stop(), nothing (a last speed flush at shutdown must not read a closed store).
   */
  refresh(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    const run = (async (): Promise<void> => {
      try {
        do {
          this.again = false;
          await this.refreshOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.running = null;
        // The interval runs from the last refresh, whatever started it.
        if (this.timer !== null) {
          clearTimeout(this.timer);
          this.schedule();
        }
      }
    })();
    this.running = run;
    return run;
  }

  /**
   * A speed flush of the same process, handed over when it is written (SpeedLayer's
   * onCheckpointed): applied at once when it continues the versions held for every partition it
   * covers, without reading the store; otherwise (or null: not written as one) a refresh.
   */
  handOff(flush: SpeedFlush | null): void {
    if (this.stopped) return;
    const continues =
      flush !== null && !this.behind && flush.checkpoints.every((cp) => (this.applied.get(cp.partition) ?? 0) === (flush.previousVersions.get(cp.partition) ?? 0));
    if (!continues) {
      void this.refresh().catch(() => undefined);
      return;
    }
    this.mirror.apply(flush.rows);
    for (const cp of flush.checkpoints) {
      this.applied.set(cp.partition, cp.version);
      this.checkpoints.set(cp.partition, cp);
    }
    const before = this.currentVersion;
    this.currentVersion = versionOf(this.boundary, this.retainedFrom, this.applied);
    this.options.metrics?.servingMemoryBytes.set({ part: 'speed' }, this.mirror.bytes);
    this.changed(before);
  }

  private async refreshOnce(): Promise<void> {
    const { logger, metrics } = this.options;
    try {
      const [checkpoints, boundary, retainedFrom] = await Promise.all([
        this.store.speedCheckpoints(),
        this.store.latestBoundary(),
        this.store.speedRetainedFrom(),
      ]);
      const ranges: SpeedVersionRange[] = [];
      for (const [partition, cp] of checkpoints) {
        const after = this.applied.get(partition) ?? 0;
        if (cp.version > after) ranges.push({ partition, after, through: cp.version });
      }
      const read = ranges.length === 0 ? EMPTY_ROWS : await this.store.speedRowsSince(ranges);
      // From here on, synchronous: no read sees half of it. A partition a hand-off moved on
      // while the rows were read keeps what it has (its rows here are older).
      const moved = new Set(ranges.filter((r) => (this.applied.get(r.partition) ?? 0) !== r.after).map((r) => r.partition));
      const rows = moved.size === 0 ? read : withoutPartitions(read, moved);
      this.mirror.apply(rows);
      for (const r of ranges) if (!moved.has(r.partition)) this.applied.set(r.partition, r.through);
      if (retainedFrom !== null && retainedFrom !== this.retainedFrom) this.mirror.dropBefore(retainedFrom);
      this.retainedFrom = retainedFrom;
      // A hand-off may have applied a checkpoint newer than the one read: the held one stays.
      for (const [p, held] of this.checkpoints) if (held.version > (checkpoints.get(p)?.version ?? -1)) checkpoints.set(p, held);
      this.checkpoints = checkpoints;
      if (boundary?.batchId !== this.boundary?.batchId) {
        const hot = this.batch.hotKeys();
        this.batch.use(boundary);
        if (boundary !== null) void this.batch.warm(hot);
        logger.info({ batchId: boundary?.batchId ?? null }, 'serving views: new batch boundary');
      }
      this.boundary = boundary;
      const before = this.currentVersion;
      this.currentVersion = versionOf(boundary, retainedFrom, this.applied);
      this.refreshedAt = this.clock();
      metrics?.servingViewsAge.set(this.refreshedAt / 1000);
      metrics?.servingMemoryBytes.set({ part: 'speed' }, this.mirror.bytes);
      if (this.mirror.bytes > this.options.memoryBudgetBytes) {
        logger.warn({ speedBytes: this.mirror.bytes, budgetBytes: this.options.memoryBudgetBytes }, 'the speed views alone exceed SERVING_MEMORY_BUDGET_MB; batch views are read from the store');
      }
      this.changed(before);
    } catch (err) {
      metrics?.servingRefreshFailures.inc();
      logger.warn({ err }, 'serving views: refresh failed; will retry');
      throw err;
    }
  }

  /** The store, for reads while behind. */
  private fallback(): ViewReader {
    this.options.metrics?.servingFallbackReads.inc({ reason: 'behind' });
    return this.store;
  }

  // Readiness: the views have caught up and the store answers.
  async ping(): Promise<boolean> {
    return !this.behind && (await this.store.ping());
  }

  // Speed views.
  speedViews(query: ViewQuery, grain?: 'minute' | 'hour'): Promise<SpeedBucketViews[]> {
    if (this.behind) return this.fallback().speedViews(query);
    return Promise.resolve(this.mirror.speedViews(query, grain));
  }
  speedVisitorSketches(query: VisitorsQuery): Promise<string[]> {
    if (this.behind) return this.fallback().speedVisitorSketches(query);
    return Promise.resolve(this.mirror.speedVisitorSketches(query));
  }
  speedVisitorSketchesByBucket(query: VisitorsQuery): Promise<BucketVisitorSketches[]> {
    if (this.behind) return this.fallback().speedVisitorSketchesByBucket(query);
    return Promise.resolve(this.mirror.speedVisitorSketchesByBucket(query));
  }
  speedSessions(query: ViewQuery): Promise<BucketSessions[]> {
    if (this.behind) return this.fallback().speedSessions(query);
    return Promise.resolve(this.mirror.speedSessions(query));
  }
  speedSessionPages(query: ViewQuery): Promise<PageSessions[]> {
    if (this.behind) return this.fallback().speedSessionPages(query);
    return Promise.resolve(this.mirror.speedSessionPages(query));
  }
  speedPageTotals(query: ViewQuery): Promise<PageTotal[]> {
    if (this.behind) return this.fallback().speedPageTotals(query);
    return Promise.resolve(this.mirror.speedPageTotals(query));
  }
  speedTopPageSummaries(query: ViewQuery): Promise<string[]> {
    if (this.behind) return this.fallback().speedTopPageSummaries(query);
    return Promise.resolve(this.mirror.speedTopPageSummaries(query));
  }
  speedRowsSince(ranges: readonly SpeedVersionRange[]): Promise<SpeedRows> {
    return this.store.speedRowsSince(ranges);
  }
  speedRetainedFrom(): Promise<number | null> {
    if (this.behind) return this.fallback().speedRetainedFrom();
    return Promise.resolve(this.retainedFrom);
  }
  speedCheckpoints(): Promise<Map<number, SpeedCheckpoint>> {
    if (this.behind) return this.fallback().speedCheckpoints();
    return Promise.resolve(new Map(this.checkpoints));
  }

  // Batch views.
  latestBoundary(): Promise<BatchBoundary | null> {
    if (this.behind) return this.fallback().latestBoundary();
    return Promise.resolve(this.boundary);
  }
  batchRuns(limit: number): Promise<BatchRunRecord[]> {
    return this.store.batchRuns(limit);
  }
  batchViews(batchId: string, query: ViewQuery, grain?: BatchGrain): Promise<BucketViews[]> {
    return this.batch.batchViews(batchId, query, grain);
  }
  batchVisitorsByDay(batchId: string, query: ViewQuery): Promise<DayVisitors[]> {
    return this.batch.batchVisitorsByDay(batchId, query);
  }
  batchPageTotals(batchId: string, query: ViewQuery): Promise<PageTotal[]> {
    return this.store.batchPageTotals(batchId, query);
  }
  batchSessions(batchId: string, query: ViewQuery, grain?: BatchGrain): Promise<BucketSessions[]> {
    return this.store.batchSessions(batchId, query, grain);
  }
  batchSessionPages(batchId: string, query: ViewQuery): Promise<PageSessions[]> {
    return this.store.batchSessionPages(batchId, query);
  }
  batchSites(batchId: string, from: number, to: number): Promise<string[]> {
    return this.store.batchSites(batchId, from, to);
  }
  batchVisitors(batchId: string, query: BatchVisitorsQuery): Promise<number> {
    return this.store.batchVisitors(batchId, query);
  }
  batchVisitorRegisters(batchId: string, query: BatchVisitorsQuery): Promise<Map<number, number>> {
    return this.store.batchVisitorRegisters(batchId, query);
  }
  batchEventCounts(boundary: BatchBoundary, query: EventCountsQuery): Promise<EventCount[]> {
    return this.store.batchEventCounts(boundary, query);
  }
}

/** The rows of every partition but `partitions` (late lanes go with their partition). */
function withoutPartitions(rows: SpeedRows, partitions: ReadonlySet<number>): SpeedRows {
  const keep = (r: { partition: number }): boolean => !partitions.has(speedLaneOwner(r.partition));
  return {
    pageMinutes: rows.pageMinutes.filter(keep),
    overflow: rows.overflow.filter(keep),
    visitors: rows.visitors.filter(keep),
    sessions: (rows.sessions ?? []).filter(keep),
  };
}

/** A short hash of what the views hold: equal in two processes that applied the same versions. */
function versionOf(boundary: BatchBoundary | null, retainedFrom: number | null, applied: ReadonlyMap<number, number>): string {
  const partitions = [...applied].sort(([a], [b]) => a - b).map(([p, v]) => `${p}:${v}`).join(',');
  return createHash('sha1').update(`${boundary?.batchId ?? ''}|${retainedFrom ?? ''}|${partitions}`).digest('base64url').slice(0, 16);
}
