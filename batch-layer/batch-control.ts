/**
 * BatchControl: the batch layer's lease and command channel, on a one-partition control
 * topic of the event log (`<topic>.batch-control`).
 *
 * - **Lease**: every scheduler instance joins the consumer group `pv-batch-scheduler` on the
 *   control topic. The group gives its single partition to exactly one member: that member
 *   holds the lease and is the only one allowed to run (and publish) batch runs. If it dies,
 *   the group hands the partition to another member after the session timeout. A run checks
 *   the lease again right before it publishes, so a run whose holder lost the lease mid-way
 *   fails instead of publishing (see batch-run.ts).
 * - **Commands**: `POST /api/v1/batch/runs`, served by any serving instance, appends a run
 *   request to the control topic; the lease holder consumes it and starts a run (or joins the
 *   one in progress). Requests older than `maxRequestAgeMs` are ignored, so a new scheduler
 *   never replays stale requests.
 *
 * In the embedded mode the control topic lives in the embedded log, whose lock file already
 * makes one process its only user.
 */
import { randomUUID } from 'node:crypto';
import type { EventLog, LogConsumer } from '../shared/adapters/event-log/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';

export const BATCH_CONTROL_GROUP = 'pv-batch-scheduler';

export interface BatchRunRequest {
  type: 'run';
  requestId: string;
  requestedAt: number;
  /** Exclusive cutoff, epoch ms; absent: the default cutoff. */
  cutoffTime?: number;
  full?: boolean;
}

export function isBatchRunRequest(value: unknown): value is BatchRunRequest {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v['type'] === 'run' &&
    typeof v['requestId'] === 'string' &&
    typeof v['requestedAt'] === 'number' &&
    (v['cutoffTime'] === undefined || typeof v['cutoffTime'] === 'number') &&
    (v['full'] === undefined || typeof v['full'] === 'boolean')
  );
}

/** What a request asks of the scheduler's run (BatchScheduler.trigger): its cutoff and full rebuild, when given. */
export function runOptionsOf(request: BatchRunRequest): { cutoffTime?: number; full?: boolean } {
  return {
    ...(request.cutoffTime === undefined ? {} : { cutoffTime: request.cutoffTime }),
    ...(request.full === undefined ? {} : { full: request.full }),
  };
}

/** Appends a run request; whichever scheduler holds the lease runs it. */
export async function requestBatchRun(controlLog: EventLog, request: Omit<BatchRunRequest, 'type' | 'requestId' | 'requestedAt'> = {}): Promise<BatchRunRequest> {
  const message: BatchRunRequest = { type: 'run', requestId: randomUUID(), requestedAt: Date.now(), ...request };
  await controlLog.append([{ key: 'run', value: JSON.stringify(message) }]);
  return message;
}

export interface BatchControlOptions {
  /** Requests older than this are ignored (ms). @default 600000 */
  maxRequestAgeMs?: number;
  /** Called for each fresh request while this instance holds the lease. */
  onRequest(request: BatchRunRequest): Promise<void> | void;
}

export class BatchControl {
  private consumer: LogConsumer | null = null;

  constructor(
    private readonly controlLog: EventLog,
    private readonly logger: Logger,
    private readonly options: BatchControlOptions,
  ) {}

  async start(): Promise<void> {
    if (this.consumer !== null) return;
    await this.controlLog.ensureTopic();
    const maxAge = this.options.maxRequestAgeMs ?? 600_000;
    this.consumer = await this.controlLog.consume({
      groupId: BATCH_CONTROL_GROUP,
      onAssigned: (partitions) => {
        if (partitions.includes(0)) this.logger.info('this instance holds the batch lease');
      },
      onRevoked: (partitions) => {
        if (partitions.includes(0)) this.logger.info('this instance no longer holds the batch lease');
      },
      eachBatch: async (batch) => {
        for (const record of batch.records) {
          let request: unknown;
          try {
            request = JSON.parse(record.value.toString('utf8'));
          } catch {
            request = null;
          }
          if (!isBatchRunRequest(request)) {
            this.logger.warn({ offset: record.offset }, 'ignoring a malformed batch control message');
          } else if (Date.now() - request.requestedAt > maxAge) {
            this.logger.info({ requestId: request.requestId }, 'ignoring a stale batch run request');
          } else {
            // Not awaited: a run takes long; the scheduler joins concurrent requests into one run.
            void Promise.resolve(this.options.onRequest(request)).catch((err: unknown) =>
              this.logger.error({ err, requestId: request.requestId }, 'requested batch run failed'),
            );
          }
        }
        const last = batch.records[batch.records.length - 1];
        if (last !== undefined) await this.consumer?.commit(new Map([[batch.partition, last.offset + 1]]));
      },
    });
  }

  /** True while this instance holds the lease. */
  held(): boolean {
    return this.consumer?.assignment().includes(0) ?? false;
  }

  /** Waits until the lease is held, up to `timeoutMs`; returns whether it is. */
  async waitHeld(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.held() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return this.held();
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
    await consumer?.stop();
  }
}
