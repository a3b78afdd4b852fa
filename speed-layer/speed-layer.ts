/**
 * SpeedLayer: consumes the page-view log as a consumer group and keeps real-time
 * page-view counts per (site, page, minute) in the speed views.
 *
 * Checkpoints (invariant 5, offsets move with state): every `flushIntervalMs` the
 * changed counters of each partition are written with a new version, then the
 * partition's checkpoint (next offset, watermark, version), and only then are the
 * offsets committed to the log. On (re)assignment a partition's state is restored
 * from its checkpoint and records below the checkpointed offset are skipped, so a
 * crash neither loses nor double-counts what was checkpointed.
 */
import { PlatformError } from '../shared/errors.ts';
import { decodePageView } from '../shared/page-view.ts';
import { INTERVAL_MS, bucketStart } from '../shared/time-buckets.ts';
import type { EventLog, LogBatch, LogConsumer } from '../shared/event-log/index.ts';
import type { Logger } from '../shared/logger.ts';
import type { PlatformMetrics } from '../shared/metrics.ts';
import type { SpeedViewStore } from '../shared/view-store/index.ts';
import { resolveSpeedLayerOptions, type SpeedLayerOptions, type ResolvedSpeedLayerOptions } from './options.ts';
import { PartitionState, type PartitionSnapshot } from './partition-state.ts';

export class SpeedLayer {
  private readonly options: ResolvedSpeedLayerOptions;
  private readonly states = new Map<number, Promise<PartitionState>>();
  private consumer: LogConsumer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lastCheckpointAt: number | null = null;

  constructor(
    private readonly log: EventLog,
    private readonly store: SpeedViewStore,
    private readonly logger: Logger,
    private readonly metrics: PlatformMetrics,
    options: SpeedLayerOptions = {},
  ) {
    this.options = resolveSpeedLayerOptions(options);
  }

  async start(): Promise<void> {
    if (this.consumer !== null) return;
    this.consumer = await this.log.consume({
      groupId: this.options.groupId,
      eachBatch: (batch) => this.applyBatch(batch),
      onAssigned: (partitions) => {
        this.logger.info({ partitions }, 'speed layer assigned partitions');
        for (const p of partitions) void this.partitionState(p).catch(() => undefined);
      },
      onRevoked: async (partitions) => {
        this.logger.info({ partitions }, 'speed layer partitions revoked');
        await this.flush();
        for (const p of partitions) this.states.delete(p);
      },
    });
    this.timer = setInterval(() => {
      void this.flush();
    }, this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Time of the last durable checkpoint (epoch ms), or null before the first. */
  get lastCheckpoint(): number | null {
    return this.lastCheckpointAt;
  }

  private partitionState(partition: number): Promise<PartitionState> {
    let state = this.states.get(partition);
    if (state === undefined) {
      state = this.restore(partition);
      this.states.set(partition, state);
      state.catch(() => this.states.delete(partition));
    }
    return state;
  }

  private async restore(partition: number): Promise<PartitionState> {
    const checkpoint = (await this.store.speedCheckpoints()).get(partition);
    if (checkpoint === undefined) {
      return new PartitionState(partition, this.options.allowedLatenessMs);
    }
    const watermark = checkpoint.maxEventTime - this.options.allowedLatenessMs;
    const fromBucket = bucketStart(watermark, 'minute') - INTERVAL_MS.minute;
    const rows = await this.store.speedPartitionRows(partition, checkpoint.version, fromBucket);
    this.logger.info(
      { partition, nextOffset: checkpoint.nextOffset, version: checkpoint.version, counters: rows.length },
      'speed layer restored partition from checkpoint',
    );
    return new PartitionState(partition, this.options.allowedLatenessMs, { ...checkpoint, rows });
  }

  private async applyBatch(batch: LogBatch): Promise<void> {
    const state = await this.partitionState(batch.partition);
    let counted = 0;
    let late = 0;
    let replayed = 0;
    let invalid = 0;
    for (const record of batch.records) {
      const decoded = decodePageView(record.value);
      const outcome = decoded.ok ? state.apply(record.offset, decoded.event) : state.skip(record.offset);
      if (outcome === 'replayed') replayed += 1;
      else if (!decoded.ok) invalid += 1;
      else if (outcome === 'late') late += 1;
      else counted += 1;
    }
    this.metrics.speedEvents.inc({ outcome: 'counted' }, counted);
    this.metrics.speedEvents.inc({ outcome: 'late' }, late);
    this.metrics.speedEvents.inc({ outcome: 'replayed' }, replayed);
    this.metrics.speedEvents.inc({ outcome: 'invalid' }, invalid);
    this.metrics.speedLag.set({ partition: String(batch.partition) }, Math.max(0, batch.highWatermark - state.nextOffset));
  }

  /** Writes changed counters and checkpoints, then commits offsets. Safe to call at any time. */
  flush(): Promise<void> {
    if (this.flushing === null) {
      this.flushing = this.flushOnce().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const pending: { state: PartitionState; snapshot: PartitionSnapshot }[] = [];
    for (const statePromise of this.states.values()) {
      const state = await statePromise.catch(() => null);
      if (state === null || !state.hasChanges) continue;
      // Newer than anything written before, including rows of a checkpoint that never completed.
      const version = Math.max(state.checkpointVersion + 1, Date.now());
      pending.push({ state, snapshot: state.snapshot(version) });
    }
    if (pending.length === 0) return;
    try {
      await this.store.upsertSpeedMinutes(pending.flatMap((p) => p.snapshot.rows));
      for (const { state, snapshot } of pending) {
        await this.store.writeSpeedCheckpoint({
          partition: state.partition,
          nextOffset: snapshot.nextOffset,
          maxEventTime: Number.isFinite(snapshot.maxEventTime) ? snapshot.maxEventTime : 0,
          version: snapshot.version,
        });
        state.checkpointed(snapshot);
      }
      this.lastCheckpointAt = Date.now();
      this.metrics.speedCheckpointAge.set(this.lastCheckpointAt / 1000);
    } catch (err) {
      for (const { state, snapshot } of pending) {
        if (state.checkpointVersion !== snapshot.version) state.restoreDirty(snapshot);
      }
      this.logger.error({ err }, 'speed layer checkpoint failed; will retry');
      return;
    }
    try {
      await this.consumer?.commit(new Map(pending.map(({ state, snapshot }) => [state.partition, snapshot.nextOffset])));
    } catch (err) {
      // Harmless: the checkpoint is durable, and records below it are skipped on replay.
      this.logger.warn({ err }, 'speed layer offset commit failed after a durable checkpoint');
    }
  }

  /** Stops consuming after a final checkpoint. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const consumer = this.consumer;
    this.consumer = null;
    if (consumer !== null) {
      await consumer.stop();
    }
    await this.flush().catch((err: unknown) => {
      throw new PlatformError('PV_STORE_UNAVAILABLE', 'final speed-layer checkpoint failed', { cause: err });
    });
    this.states.clear();
  }
}
