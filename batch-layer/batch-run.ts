/**
 * One batch run: exact page views recomputed from the retained log.
 *
 *  1. Cutoff: the log's end offsets now, and a cutoff time (exclusive, hour-aligned;
 *     by default the start of the current UTC day).
 *  2. Raw copy: records not yet copied, up to those end offsets, are appended to the
 *     store's raw copy (valid events) or its invalid-record ledger. Incremental by
 *     offset; never depends on the speed layer. Partitions in parallel, reading overlapping
 *     inserting, each partition's inserts in offset order (raw-copy.ts says why that is safe).
 *  3. Views: computed in the engine from the raw copy, deduplicated by eventId, under a
 *     new version (the batch id). Late events land in their own event-time bucket.
 *  4. Publish: a `success` run record makes the version and its boundary visible at
 *     once. A run that dies before that changes nothing users see.
 */
import { randomBytes } from 'node:crypto';
import { PlatformError, isPlatformError } from '../shared/core/errors.ts';
import { bucketStart } from '../shared/core/time-buckets.ts';
import { cutoffProblem, hourText } from './cutoff.ts';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';
import { compareSpeedBatch } from '../shared/core/query/index.ts';
import type { BatchRunRecord, BatchViewStore, BuildPassListener, RunDivergence, SpeedViewStore } from '../shared/adapters/view-store/index.ts';
import { copyRawRanges } from './raw-copy.ts';

export interface BatchRunOptions {
  /** Exclusive cutoff time (epoch ms, hour-aligned). @default start of the current UTC day */
  cutoffTime?: number;
  /** Rebuild the raw copy from the log's first offset (e.g. after a change of metric logic). @default false */
  full?: boolean;
  /** Rows per raw-copy insert. @default 50000 */
  insertBatchSize?: number;
  /**
   * Partitions the raw copy reads and inserts at the same time (at most the partitions to copy).
   * Each holds up to two batches of `insertBatchSize` rows: the one being inserted and the one
   * being read (batch-layer/raw-copy.ts). @default BATCH_RUN_DEFAULTS.copyConcurrency (2)
   */
  copyConcurrency?: number;
  /**
   * Whether this process may still publish (the batch lease, batch-control.ts). Checked right
   * before publishing: a run that lost the lease fails instead. @default always true
   */
  leaseHeld?: () => boolean;
  /**
   * After publishing, measure the speed views against the batch views over the day before the
   * cutoff (the run record's `divergence`). Off for a run over history the speed layer never
   * saw (the first run's back-fill, cli/first-run.ts), where it would only report false alarms.
   * @default true
   */
  measureDivergence?: boolean;
  /** Report progress (records copied so far, records to copy). */
  onProgress?(copied: number, total: number): void;
  /**
   * Report the view build's progress: called after each pass of the build, its kind
   * (deduplication, then visitors), and the passes of that kind done and in all
   * (`ViewStore.batchEventsPerPass` sets how many). The visitor passes write the run's
   * (unpublished) version.
   */
  onBuildPass?: BuildPassListener;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Defaults of the run options that have one. */
export const BATCH_RUN_DEFAULTS = {
  insertBatchSize: 50_000,
  // Measured on 2 cores (BENCHMARKS.md, issue #19): 2 copies as fast as 4, with 0.3–0.4 GiB less peak RSS.
  copyConcurrency: 2,
} as const;

/** What a run would do, computed without writing anything (`--dry-run`). */
export interface BatchPlan {
  cutoffTime: number;
  full: boolean;
  endOffsets: Record<string, number>;
  /** Per partition, the offsets the raw copy would read: [from, to). */
  copy: { partition: number; from: number; to: number }[];
  recordsToCopy: number;
}

export interface BatchRunResult {
  run: BatchRunRecord;
}

/** Sortable, unique run id: b<UTC yyyymmddhhmmss>-<random>. */
export function newBatchId(now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `b${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Default cutoff: the start of the current UTC day. */
export function defaultCutoff(now: number): number {
  return bucketStart(now, 'day');
}

/** Refuses a cutoff off the UTC hour or in the future, offering the last full hour at or before it. */
export function validateCutoff(cutoffTime: number, now: number): void {
  const refused = cutoffProblem(cutoffTime, now);
  if (refused === null) return;
  const given = !Number.isNaN(new Date(cutoffTime).getTime()) ? new Date(cutoffTime).toISOString() : String(cutoffTime);
  const instead = `e.g. "cutoff": "${hourText(refused.lastFullHour)}"`;
  throw new PlatformError(
    'PV_BATCH_FAILED',
    refused.problem === 'off-hour'
      ? `"cutoff" must be on a UTC hour (the batch views are built per hour): ${given} is not; ${instead}, the last full hour before it`
      : `"cutoff": ${given} is in the future; ${instead}, the start of the current UTC hour`,
  );
}

function isSpeedStore(store: BatchViewStore): store is BatchViewStore & SpeedViewStore {
  return typeof (store as Partial<SpeedViewStore>).speedViews === 'function';
}

/**
 * Speed vs batch per site over the UTC day before the run's cutoff (what the run just covered);
 * null when the speed layer holds none of that day (its retention point is after the day's
 * start, as after a first run): a divergence of 0 against 0 would say "within" over nothing.
 */
export async function measureDivergence(store: BatchViewStore & SpeedViewStore, run: BatchRunRecord): Promise<RunDivergence | null> {
  const to = bucketStart(run.cutoffTime, 'day');
  const from = to - 86_400_000;
  const boundary = { batchId: run.batchId, cutoffTime: run.cutoffTime, endOffsets: run.endOffsets, publishedAt: run.finishedAt ?? 0 };
  const sites: RunDivergence['sites'] = {};
  for (const site of await store.batchSites(run.batchId, from, to)) {
    const c = await compareSpeedBatch(store, { site, from, to, interval: 'day' }, boundary);
    if (c.from >= c.to) return null; // the range is the same for every site
    sites[site] = {
      batch: c.totals.batch,
      speed: c.totals.speed,
      relativeDifference: c.totals.relativeDifference,
      withinBound: c.totals.withinBound,
      visitors: c.visitors === null ? null : { batch: c.visitors.batch, speed: c.visitors.speed, relativeDifference: c.visitors.relativeDifference, withinBound: c.visitors.withinBound },
      sessions: c.sessions,
    };
  }
  return { from, to, sites };
}

/** Computes a run's cutoff and the offsets its raw copy reads. Writes nothing. */
export async function planBatch(log: EventLog, store: BatchViewStore, options: BatchRunOptions = {}): Promise<BatchPlan> {
  const now = (options.now ?? Date.now)();
  const cutoffTime = options.cutoffTime ?? defaultCutoff(now);
  validateCutoff(cutoffTime, now);
  const full = options.full ?? false;
  const [endOffsets, starts, copied] = await Promise.all([
    log.endOffsets(),
    log.startOffsets(),
    full ? Promise.resolve(new Map<number, number>()) : store.rawCopyEndOffsets(),
  ]);
  if (full) {
    const trimmed = [...starts].filter(([, start]) => start > 0);
    if (trimmed.length > 0) {
      throw new PlatformError(
        'PV_BATCH_FAILED',
        `a full rebuild needs the whole log, but retention removed its beginning (partition ${trimmed[0]![0]} starts at offset ${trimmed[0]![1]}); ` +
          'rebuilding would lose those events from the batch views',
      );
    }
  }
  const copy = [...endOffsets].map(([partition, to]) => ({
    partition,
    from: Math.min(to, Math.max(copied.get(partition) ?? 0, starts.get(partition) ?? 0)),
    to,
  }));
  return {
    cutoffTime,
    full,
    endOffsets: Object.fromEntries([...endOffsets].map(([p, o]) => [String(p), o])),
    copy,
    recordsToCopy: copy.reduce((sum, r) => sum + (r.to - r.from), 0),
  };
}

export async function runBatch(
  log: EventLog,
  store: BatchViewStore,
  logger: Logger,
  options: BatchRunOptions = {},
): Promise<BatchRunResult> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const plan = await planBatch(log, store, { ...options, now: () => startedAt });
  const batchSize = options.insertBatchSize ?? BATCH_RUN_DEFAULTS.insertBatchSize;
  const copyConcurrency = options.copyConcurrency ?? BATCH_RUN_DEFAULTS.copyConcurrency;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new PlatformError('PV_CONFIG_INVALID', `batch run option 'insertBatchSize' (${batchSize}) must be a positive integer`);
  }
  if (!Number.isSafeInteger(copyConcurrency) || copyConcurrency < 1) {
    throw new PlatformError('PV_CONFIG_INVALID', `batch run option 'copyConcurrency' (${copyConcurrency}) must be a positive integer`);
  }
  const batchId = newBatchId(startedAt);
  const run: BatchRunRecord = {
    batchId,
    status: 'running',
    startedAt,
    finishedAt: null,
    cutoffTime: plan.cutoffTime,
    endOffsets: plan.endOffsets,
    rowsRead: 0,
    rowsInvalid: 0,
    rowsDuplicate: 0,
    rowsCounted: 0,
    error: null,
  };
  const runLogger = logger.child({ batchId });
  runLogger.info({ cutoff: new Date(plan.cutoffTime).toISOString(), endOffsets: run.endOffsets, full: plan.full, recordsToCopy: plan.recordsToCopy }, 'batch run started');
  // Runs left 'running' can never finish: their process died, or they failed while the store
  // was unreachable and could not record it. Say so in their history.
  // (Only the lease holder runs batches, so no other run is really in progress.)
  for (const stale of (await store.batchRuns(50)).filter((r) => r.status === 'running')) {
    const error = 'abandoned: it never recorded its end (its process stopped, or the store was unreachable when it failed)';
    await store.recordBatchRun({ ...stale, status: 'failed', finishedAt: startedAt, error });
  }
  await store.recordBatchRun(run);
  const previous = await store.latestBoundary();

  try {
    // A full rebuild empties the raw copy first. The published views are separate tables
    // and stay served until this run publishes new ones.
    if (plan.full) await store.truncateRawCopy();
    await copyRawRanges(log, store, plan.copy, {
      batchSize,
      concurrency: copyConcurrency,
      logger: runLogger,
      onBatchWritten: (rows, invalid) => {
        run.rowsRead += rows;
        run.rowsInvalid += invalid;
        options.onProgress?.(run.rowsRead, plan.recordsToCopy);
      },
    });

    const stats = await store.buildBatchViews(batchId, {
      cutoffTime: plan.cutoffTime,
      endOffsets: new Map(Object.entries(plan.endOffsets).map(([p, o]) => [Number(p), o])),
    }, options.onBuildPass);
    run.rowsCounted = stats.rowsCounted;
    run.rowsDuplicate = stats.rowsDuplicate;
    if (options.leaseHeld !== undefined && !options.leaseHeld()) {
      throw new PlatformError('PV_BATCH_FAILED', 'this process lost the batch lease before publishing; another scheduler runs the batch');
    }
    run.status = 'success';
    run.finishedAt = now();
    await store.recordBatchRun(run);
    runLogger.info(
      {
        rowsRead: run.rowsRead,
        rowsInvalid: run.rowsInvalid,
        rowsDuplicate: run.rowsDuplicate,
        rowsCounted: run.rowsCounted,
        durationMs: run.finishedAt - startedAt,
      },
      'batch run published',
    );
    await store.dropBatchVersionsExcept(previous === null ? [batchId] : [batchId, previous.batchId]).catch((err: unknown) => {
      runLogger.warn({ err }, 'could not drop old batch versions; they are unused and will be dropped next run');
    });
    if ((options.measureDivergence ?? true) && isSpeedStore(store)) {
      // Never fails the (already published) run: the divergence is a report.
      try {
        const divergence = await measureDivergence(store, run);
        if (divergence === null) runLogger.info('no speed-vs-batch divergence measured: the speed layer holds none of the day before the cutoff');
        run.divergence = divergence;
        await store.recordBatchRun(run);
        const outside = Object.entries(divergence?.sites ?? {}).filter(([, d]) => !d.withinBound || d.visitors?.withinBound === false);
        if (outside.length > 0) {
          runLogger.warn({ sites: Object.fromEntries(outside) }, 'speed views diverge from the batch views beyond their declared bounds');
        }
      } catch (err) {
        runLogger.warn({ err }, 'could not measure the speed-vs-batch divergence of this run');
      }
    }
    return { run };
  } catch (err) {
    run.status = 'failed';
    run.finishedAt = now();
    run.error = err instanceof Error ? err.message : String(err);
    runLogger.error({ err }, 'batch run failed; the previous views stay published');
    await store.recordBatchRun(run).catch((recordErr: unknown) => {
      runLogger.error({ err: recordErr }, 'could not record the failed batch run');
    });
    if (isPlatformError(err)) throw err;
    throw new PlatformError('PV_BATCH_FAILED', `batch run ${batchId} failed: ${run.error}`, { cause: err });
  }
}
