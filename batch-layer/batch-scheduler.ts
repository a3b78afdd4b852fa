/**
 * BatchScheduler: runs the batch layer on a cron schedule (nightly by default) and on
 * demand. Within a process at most one run is in flight: a trigger while a run is in
 * progress joins that run instead of starting a second one.
 */
import { schedule, type ScheduledTask } from 'node-cron';
import { PlatformError } from '../shared/core/errors.ts';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';
import type { PlatformMetrics } from '../shared/runtime/metrics.ts';
import type { BatchViewStore } from '../shared/adapters/view-store/index.ts';
import { ENVIRONMENT_VARIABLES as ENV } from '../shared/runtime/environment.ts';
import { runBatch, type BatchRunOptions, type BatchRunResult } from './batch-run.ts';

export interface BatchSchedulerOptions {
  /** Cron expression. @default '0 2 * * *' */
  cron?: string;
  /** IANA time zone of the cron expression. @default 'UTC' */
  timezone?: string;
  /**
   * Whether this instance holds the batch lease (BatchControl.held). Scheduled runs of an
   * instance without it are skipped; triggers are refused. @default always true
   */
  leaseHeld?: () => boolean;
}

/** The defaults of BATCH_CRON and BATCH_TIMEZONE (shared/runtime/environment.ts), so each is written once. */
export const BATCH_SCHEDULER_DEFAULTS = { cron: ENV.BATCH_CRON.default, timezone: ENV.BATCH_TIMEZONE.default } as const;

export class BatchScheduler {
  private task: ScheduledTask | null = null;
  private inFlight: Promise<BatchRunResult> | null = null;
  private readonly cron: string;
  private readonly timezone: string;
  private readonly leaseHeld: () => boolean;

  constructor(
    private readonly log: EventLog,
    private readonly store: BatchViewStore,
    private readonly logger: Logger,
    private readonly metrics: PlatformMetrics,
    options: BatchSchedulerOptions = {},
  ) {
    this.cron = options.cron ?? BATCH_SCHEDULER_DEFAULTS.cron;
    this.timezone = options.timezone ?? BATCH_SCHEDULER_DEFAULTS.timezone;
    this.leaseHeld = options.leaseHeld ?? (() => true);
  }

  start(): void {
    if (this.task !== null) return;
    this.task = schedule(
      this.cron,
      async () => {
        if (!this.leaseHeld()) {
          this.metrics.batchScheduledTicks.inc({ outcome: 'skipped' });
          this.logger.info('scheduled batch run skipped: another scheduler instance holds the batch lease');
          return;
        }
        this.metrics.batchScheduledTicks.inc({ outcome: 'ran' });
        await this.trigger().catch(() => undefined); // already logged and recorded by the run
      },
      { timezone: this.timezone, noOverlap: true, name: 'pv-batch' },
    );
    this.logger.info({ cron: this.cron, timezone: this.timezone, nextRun: this.task.getNextRun()?.toISOString() }, 'batch schedule started');
  }

  /** When the next scheduled run starts, or null when not scheduled. */
  nextRun(): Date | null {
    return this.task?.getNextRun() ?? null;
  }

  /** True while a run is in progress in this process. */
  get running(): boolean {
    return this.inFlight !== null;
  }

  /** Starts a run now, or joins the one in progress (whatever options that one has). */
  trigger(options: BatchRunOptions = {}): Promise<BatchRunResult> {
    if (this.inFlight === null) {
      if (!this.leaseHeld()) {
        return Promise.reject(
          new PlatformError('PV_BATCH_NOT_LEASE_HOLDER', 'another scheduler instance holds the batch lease; request the run with POST /api/v1/batch/runs'),
        );
      }
      this.inFlight = runBatch(this.log, this.store, this.logger, { leaseHeld: this.leaseHeld, ...options })
        .then((result) => {
          this.metrics.batchRuns.inc({ status: 'success' });
          this.metrics.batchInvalidRecords.inc(result.run.rowsInvalid);
          this.metrics.batchLastSuccess.set(result.run.cutoffTime / 1000);
          for (const [site, d] of Object.entries(result.run.divergence?.sites ?? {})) {
            if (d.relativeDifference !== null) this.metrics.batchDivergence.set({ site, metric: 'pageviews' }, d.relativeDifference);
            if (d.visitors?.relativeDifference != null) this.metrics.batchDivergence.set({ site, metric: 'visitors' }, d.visitors.relativeDifference);
          }
          return result;
        })
        .catch((err: unknown) => {
          this.metrics.batchRuns.inc({ status: 'failed' });
          throw err;
        })
        .finally(() => {
          this.inFlight = null;
        });
    }
    return this.inFlight;
  }

  async stop(): Promise<void> {
    await this.task?.destroy();
    this.task = null;
    await this.inFlight?.catch(() => undefined);
  }
}
