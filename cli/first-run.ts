/**
 * The first run of an embedded start (cli/start.ts): on a fresh DATA_DIR with the built-in
 * generator on, days of generated history are back-filled into the event log and one batch
 * run with its cutoff at the start of the current UTC hour covers them, before the speed
 * layer consumes and before the server listens. The first dashboard then shows exact numbers
 * before `exactThrough` and provisional ones after it, instead of `exactThrough: null` until
 * the nightly run.
 *
 * Fresh: the embedded page-view log has never held a record (every end offset 0) and the view
 * store has never recorded a batch run. A second start on the same DATA_DIR is not fresh, so
 * it never back-fills again. With Kafka the log may be shared and is never back-filled.
 */
import { lastFullHour, type BatchRunOptions, type BatchRunResult } from '../batch-layer/index.ts';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { ViewStore } from '../shared/adapters/view-store/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';
import { backfillHistory, type HistoryBackfillResult } from '../shared/tools/history-backfill.ts';
import type { TrafficOptions } from '../shared/tools/traffic-generator.ts';

/** True when `log` is the embedded log and neither it nor `store` has seen anything yet. */
export async function isFreshDataDir(log: EventLog, store: Pick<ViewStore, 'batchRuns'>): Promise<boolean> {
  if (log.kind !== 'embedded') return false;
  const [ends, runs] = await Promise.all([log.endOffsets(), store.batchRuns(1)]);
  return [...ends.values()].every((end) => end === 0) && runs.length === 0;
}

export interface FirstRunOptions {
  days: number;
  eventsPerDay: number;
  /** The live generator's traffic options (site, pages, visitors, visit fields), so history looks like live traffic. */
  traffic: TrafficOptions;
  /** Runs one batch (the scheduler's trigger); null when this process does not run the batch layer. */
  runBatch: ((options: BatchRunOptions) => Promise<BatchRunResult>) | null;
  /** The view store: its speed retention point is set to the day of the cutoff (the speed layer holds nothing before it). */
  store: Pick<ViewStore, 'dropSpeedBefore'>;
  /** @default Date.now */
  now?: () => number;
}

export interface FirstRunResult {
  backfill: HistoryBackfillResult;
  /** The run that covers the history; null when there was none (see the log). */
  batch: BatchRunResult | null;
}

const count = (n: number): string => n.toLocaleString('en');
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * Back-fills `days` of history before the start of the current UTC hour, then runs one batch
 * with that hour as its cutoff. A failed batch is logged and leaves the server to start
 * without a boundary (the scheduled run covers the history later); a failed back-fill throws.
 */
export async function runFirstRun(log: EventLog, logger: Logger, options: FirstRunOptions): Promise<FirstRunResult> {
  const now = options.now ?? Date.now;
  const cutoff = lastFullHour(now());
  logger.info(
    { days: options.days, eventsPerDay: options.eventsPerDay, until: new Date(cutoff).toISOString() },
    'first run on an empty DATA_DIR: back-filling generated history (GENERATOR_HISTORY_DAYS=0 to skip)',
  );
  const backfill = await backfillHistory(log, { ...options.traffic, until: cutoff, days: options.days, eventsPerDay: options.eventsPerDay });
  const what = `back-filled ${count(backfill.events)} page views over ${options.days} days in ${seconds(backfill.durationMs)}`;
  const fields = { events: backfill.events, from: new Date(backfill.from).toISOString(), to: new Date(backfill.to).toISOString(), backfillMs: backfill.durationMs };
  if (options.runBatch === null) {
    logger.info(fields, `first run: ${what}; no batch run here (ROLES has no batch), so exactThrough stays unset until the batch layer runs`);
    return { backfill, batch: null };
  }
  const started = now();
  try {
    // The speed layer never saw this history: comparing it with the batch would only raise false alarms.
    const batch = await options.runBatch({ cutoffTime: cutoff, measureDivergence: false });
    // The speed layer starts at the boundary and never holds the history: its views begin at the
    // cutoff, so the compare report (and the dashboard's speed-vs-batch view) does not set the
    // history, the cutoff's day included, against speed views that never counted it.
    await options.store.dropSpeedBefore(cutoff);
    const { run } = batch;
    logger.info(
      { ...fields, batchId: run.batchId, batchMs: now() - started },
      `first run: ${what}; batch run ${run.batchId} exact through ${new Date(run.cutoffTime).toISOString()} in ${seconds(now() - started)}`,
    );
    return { backfill, batch };
  } catch (err) {
    logger.error({ err, ...fields }, `first run: ${what}, but the batch run over it failed; exactThrough stays unset until the next batch run`);
    return { backfill, batch: null };
  }
}
