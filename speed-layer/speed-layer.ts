/**
 * SpeedLayer: consumes the page-view log as a consumer group and keeps real-time,
 * bounded-memory views per (site, page, minute): exact counters up to a key and byte budget,
 * then Count-Min and Space-Saving; HyperLogLogs of visitors (see partition-state.ts).
 *
 * Late data (invariant 8): every event whose minute is at or after the batch boundary is
 * counted, however late. Minutes within the hot window are in memory; what an event adds to an
 * older one whose row is not in memory goes to the partition's late lane, written at the next
 * flush like any change (so it is as fresh as a current event), and merged into the stored rows
 * in the background (`mergeLanes`). Events before the boundary are the batch layer's, counted
 * in `pv_speed_events_total{outcome="before_boundary"}`.
 *
 * Checkpoints (invariant 5, offsets move with state): at each flush the changed rows of every
 * partition are written with a new version together with the partitions' checkpoints (next
 * offset, version; one transaction on DuckDB, the checkpoints last on ClickHouse), and only
 * then are offsets committed to the log. The flush interval is `flushIntervalMs` under load and
 * doubles up to `flushIdleIntervalMs` while traffic is light, so an idle platform costs nothing. On
 * (re)assignment a partition's state is restored from its checkpoint and records below the
 * checkpointed offset are skipped, so a crash neither loses nor double-counts what was
 * checkpointed.
 *
 * Bad records (not JSON, invalid, or too far in the future) go to the dead-letter topic
 * with their original bytes and a reason header before the batch is applied: the consumer
 * never stops on bad data and never loses it.
 *
 * Poison isolation (invariant 11): each partition checkpoints on its own, so one that fails
 * delays no other. When the store refuses rows (not when it is down), the partition's rows are
 * written again in halves until the refused ones stand alone; those go to the dead-letter topic
 * (reason `store_refused`, the row as JSON) and the checkpoint goes on without them. Their
 * counts are missing from the speed views only: the batch layer recounts the raw events.
 *
 * Retention (invariant 4): days of speed buckets before (latest batch boundary − margin)
 * are dropped; nothing the batch layer has not covered is ever dropped.
 */
import { decodePageView, type PageView } from '../shared/core/page-view.ts';
import { bucketStart } from '../shared/core/time-buckets.ts';
import type { EventLog, LogBatch, LogConsumer, LogMessage } from '../shared/adapters/event-log/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';
import type { PlatformMetrics } from '../shared/runtime/metrics.ts';
import {
  isRefusal,
  speedLateLane,
  writeIsolatingRefused,
  type BatchViewStore,
  type SpeedCheckpoint,
  type SpeedFlush,
  type SpeedRows,
  type SpeedViewStore,
} from '../shared/adapters/view-store/index.ts';
import { resolveSpeedLayerOptions, type ResolvedSpeedLayerOptions, type SpeedLayerOptions } from './options.ts';
import { ByteBudget, PartitionState, residentFromAt, type PartitionSnapshot, type SketchSettings } from './partition-state.ts';

/** Events applied since the last flush that make the next flush come after `flushIntervalMs` again. */
export const BUSY_EVENTS = 1000;
/**
 * Late-lane entries of one partition not yet merged into their stored rows beyond which
 * consumption waits for the read in flight: bounds the lane's memory.
 */
export const MAX_LANE_ENTRIES = 10_000;

/** Header names of a dead-lettered record. */
export const DEAD_LETTER_HEADERS = {
  reason: 'pv-dead-letter-reason',
  detail: 'pv-dead-letter-detail',
  partition: 'pv-source-partition',
  offset: 'pv-source-offset',
} as const;

export class SpeedLayer {
  private readonly options: ResolvedSpeedLayerOptions;
  private readonly settings: SketchSettings;
  private readonly deadLetterTopic: string;
  private readonly states = new Map<number, Promise<PartitionState>>();
  private readonly budget: ByteBudget;
  private consumer: LogConsumer | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The current flush interval: `flushIntervalMs` under load, up to `flushIdleIntervalMs` when light. */
  private interval: number;
  private eventsSinceFlush = 0;
  /** Set while stored rows are read to merge the late lanes into; batches go on meanwhile. */
  private laneMerge: Promise<void> | null = null;
  /** After a failed read for a lane merge, the next waits until then (ms, wall clock). */
  private laneRetryAt = 0;
  /** Start of the minute of the latest published boundary: earlier events are the batch layer's. */
  private boundaryMinute = Number.NEGATIVE_INFINITY;
  private flushing: Promise<void> | null = null;
  /** When the pages' visitor sketches were last written (see `sketchIntervalMs`). */
  private lastSketchWrite = 0;
  private lastRetentionCheck = 0;
  private stopping = false;
  private started = false;
  private retainedFrom: number | null = null;
  private readonly checkpointListeners: ((flush: SpeedFlush | null) => void)[] = [];

  constructor(
    private readonly log: EventLog,
    private readonly store: SpeedViewStore & Pick<BatchViewStore, 'latestBoundary'>,
    private readonly logger: Logger,
    private readonly metrics: PlatformMetrics,
    options: SpeedLayerOptions = {},
  ) {
    this.options = resolveSpeedLayerOptions(options);
    this.settings = this.options;
    this.budget = new ByteBudget(this.options.memoryBudgetBytes);
    this.interval = this.options.flushIntervalMs;
    this.deadLetterTopic = this.options.deadLetterTopic ?? `${log.topic}.dead-letter`;
  }

  /**
   * Calls `listener` after every flush that made checkpoints durable, with what it wrote (null
   * when some rows were written one partition at a time, refused ones left out): a serving layer
   * in the same process applies it at once (a direct hand-off), or refreshes from the store.
   */
  onCheckpointed(listener: (flush: SpeedFlush | null) => void): void {
    this.checkpointListeners.push(listener);
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
        if (this.stopping) {
          // A clean stop: this member is still in the group, so nobody else owns the
          // partitions yet and a last checkpoint is safe.
          await this.flush(true);
        }
        // On a rebalance the state is dropped without writing: another member may already
        // own the partition, and a late write from here would overwrite its newer counts.
        // The next owner restores the last checkpoint and consumes again from there.
        for (const p of partitions) this.dropState(p);
      },
    });
    this.started = true;
    this.schedule(this.interval);
  }

  /** The current flush interval (ms): `flushIntervalMs` under load, up to `flushIdleIntervalMs` when traffic is light. */
  get flushIntervalMs(): number {
    return this.interval;
  }

  private schedule(delayMs: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  /** A scheduled flush; the next comes sooner under load and later when traffic is light. */
  private async tick(): Promise<void> {
    this.timer = null;
    const events = this.eventsSinceFlush;
    this.eventsSinceFlush = 0;
    const started = Date.now();
    try {
      this.mergeLanes();
      await this.flush();
      await this.applyRetention();
    } catch (err) {
      this.logger.error({ err }, 'speed layer flush failed; will retry');
    } finally {
      // The next flush is always scheduled: a failure must not stop checkpointing for good.
      if (this.consumer !== null && !this.stopping) {
        this.interval = events >= BUSY_EVENTS ? this.options.flushIntervalMs : Math.min(this.interval * 2, this.options.flushIdleIntervalMs);
        // Flushes start one interval apart: the time a flush takes is not added to the freshness.
        if (this.timer === null) this.schedule(Math.max(0, this.interval - (Date.now() - started)));
      }
    }
  }

  private dropState(partition: number): void {
    const state = this.states.get(partition);
    this.states.delete(partition);
    void state?.then((s) => s.release(), () => undefined);
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
    if (this.started) {
      // Assigned by a rebalance, perhaps taken over from another member: give a checkpoint
      // that member had in flight when it lost the partition time to land first.
      await new Promise((resolve) => setTimeout(resolve, this.options.takeoverGraceMs));
    }
    const checkpoint = (await this.store.speedCheckpoints()).get(partition);
    if (checkpoint === undefined) return new PartitionState(partition, this.settings, this.budget);
    // The hot window comes back into memory; older minutes stay in the store until a late event needs them.
    const residentFrom = residentFromAt(this.options.now(), this.options.hotWindowMs);
    const [rows, lane]: [SpeedRows, SpeedRows] = await Promise.all([
      this.store.speedPartitionState(partition, checkpoint.version, residentFrom),
      // The late lane, every bucket: what it holds is not in the partition's rows yet.
      this.store.speedPartitionState(speedLateLane(partition), checkpoint.version, 0),
    ]);
    this.logger.info(
      { partition, nextOffset: checkpoint.nextOffset, version: checkpoint.version, counters: rows.pageMinutes.length },
      'speed layer restored partition from checkpoint',
    );
    const state = new PartitionState(partition, this.settings, this.budget, { ...checkpoint, rows, residentFrom, lane });
    state.boundary = this.boundaryMinute;
    return state;
  }

  /** Partitions this member owns now; a zombie batch for any other is not applied. */
  private owns(partition: number): boolean {
    return this.consumer === null || this.consumer.assignment().includes(partition);
  }


  private async applyBatch(batch: LogBatch): Promise<void> {
    if (!this.owns(batch.partition)) return;
    const statePromise = this.partitionState(batch.partition);
    const state = await statePromise;
    // The partition may have been revoked while its state was restored.
    if (this.states.get(batch.partition) !== statePromise || !this.owns(batch.partition)) return;
    const now = this.options.now();
    // First pass: decide every record, and write dead letters before any state changes, so
    // a failed dead-letter write redelivers the whole batch and nothing is lost.
    const decided: (PageView | null)[] = [];
    const deadLetters: LogMessage[] = [];
    let replayed = 0;
    for (const record of batch.records) {
      if (record.offset < state.nextOffset) {
        // Replayed: from replayFrom on, a valid event's visitor goes to its page's sketch again
        // (the one thing a checkpoint may not have written). Bad records were dead-lettered already.
        const replay = record.offset >= state.replayFrom ? decodePageView(record.value) : null;
        decided.push(replay !== null && replay.ok && replay.event.timestamp <= now + this.options.maxFutureSkewMs ? replay.event : null);
        replayed += 1;
        continue;
      }
      const decoded = decodePageView(record.value);
      let reason: 'invalid' | 'future' | null = null;
      let detail = '';
      if (!decoded.ok) {
        reason = 'invalid';
        detail = decoded.errors.map((e) => (e.field === '' ? e.message : `${e.field}: ${e.message}`)).join('; ');
      } else if (decoded.event.timestamp > now + this.options.maxFutureSkewMs) {
        reason = 'future';
        detail = `event time ${new Date(decoded.event.timestamp).toISOString()} is more than ${this.options.maxFutureSkewMs} ms ahead of the clock`;
      }
      if (reason !== null) {
        deadLetters.push({
          key: record.key === null ? null : record.key.toString('utf8'),
          value: record.value,
          headers: {
            [DEAD_LETTER_HEADERS.reason]: reason,
            [DEAD_LETTER_HEADERS.detail]: detail.slice(0, 1000),
            [DEAD_LETTER_HEADERS.partition]: String(record.partition),
            [DEAD_LETTER_HEADERS.offset]: String(record.offset),
          },
        });
        decided.push(null);
      } else {
        decided.push(decoded.ok ? decoded.event : null);
      }
    }
    if (deadLetters.length > 0) {
      await this.log.appendTo(this.deadLetterTopic, deadLetters);
      // Counted once written: a failed write redelivers the batch, which would count them again.
      for (const message of deadLetters) this.metrics.speedDeadLetters.inc({ reason: message.headers?.[DEAD_LETTER_HEADERS.reason] ?? 'invalid' });
      this.logger.warn({ partition: batch.partition, count: deadLetters.length, topic: this.deadLetterTopic }, 'records dead-lettered');
    }

    if (this.states.get(batch.partition) !== statePromise || !this.owns(batch.partition)) return;
    state.boundary = this.boundaryMinute;
    let counted = 0;
    let beforeBoundary = 0;
    batch.records.forEach((record, i) => {
      const event = decided[i];
      const outcome = event === null || event === undefined ? state.skip(record.offset) : state.apply(record.offset, event);
      if (outcome === 'before_boundary') beforeBoundary += 1;
      else if (outcome === 'counted' && event !== null && event !== undefined) counted += 1;
    });
    this.metrics.speedEvents.inc({ outcome: 'counted' }, counted);
    this.metrics.speedEvents.inc({ outcome: 'before_boundary' }, beforeBoundary);
    this.metrics.speedEvents.inc({ outcome: 'replayed' }, replayed);
    this.metrics.speedEvents.inc({ outcome: 'dead_letter' }, deadLetters.length);
    this.metrics.speedLag.set({ partition: String(batch.partition) }, Math.max(0, batch.highWatermark - state.nextOffset));
    this.eventsSinceFlush += batch.records.length;
    if (state.laneEntries > 0) this.mergeLanes();
    if (state.laneEntries >= MAX_LANE_ENTRIES) {
      // Late events for more keys than the store answers for: consumption waits for the read in flight.
      await this.laneMerge;
    } else if (this.eventsSinceFlush >= BUSY_EVENTS && this.interval > this.options.flushIntervalMs && this.consumer !== null && !this.stopping) {
      // Traffic picked up during a long interval: flush at the busy pace from now on.
      this.interval = this.options.flushIntervalMs;
      this.schedule(this.interval);
    }
  }

  /**
   * Writes changed rows and checkpoints of the partitions this member owns, then commits
   * offsets. Safe to call at any time. `final` (a clean stop) also writes partitions whose
   * revocation is in progress.
   */
  flush(final = false): Promise<void> {
    if (this.flushing === null) {
      this.flushing = this.flushOnce(final).finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  private async flushOnce(final: boolean): Promise<void> {
    const timer = this.metrics.speedFlushDuration.startTimer();
    try {
      await this.flushStates(final);
    } finally {
      timer();
    }
  }

  private async flushStates(final: boolean): Promise<void> {
    // The pages' visitor sketches: every sketchIntervalMs, and at a clean stop.
    const now = Date.now();
    const withSketches = final || now - this.lastSketchWrite >= this.options.sketchIntervalMs;
    if (withSketches) this.lastSketchWrite = now;
    const states: PartitionState[] = [];
    for (const statePromise of this.states.values()) {
      const state = await statePromise.catch(() => null);
      if (state === null || !state.hasChanges(withSketches) || (!final && !this.owns(state.partition))) continue;
      states.push(state);
    }
    const pending = this.snapshots(states, withSketches);
    this.metrics.speedStateBytes.set(this.budget.used);
    if (pending.length === 0) return;
    const checkpoints = pending.map(({ snapshot, state }) => checkpointOf(state.partition, snapshot));
    const previousVersions = new Map(pending.map(({ state }) => [state.partition, state.checkpointVersion]));
    const rows = mergeRows(pending.map((p) => p.snapshot.rows));
    // Fast path: every partition's rows and checkpoints in one write. A refusal falls back to
    // writing each partition on its own, isolating the refused rows; a store that is down fails them all.
    let isolate = false;
    try {
      await this.store.writeSpeedFlush(rows, checkpoints);
    } catch (err) {
      if (!isRefusal(err)) {
        for (const { state, snapshot } of pending) state.restoreDirty(snapshot);
        this.logger.error({ err }, 'speed layer checkpoint failed; will retry');
        return;
      }
      isolate = true;
    }
    if (!isolate) this.countWritten(pending.map((p) => p.snapshot.rows));
    const committed = new Map<number, number>();
    for (const [i, { state, snapshot }] of pending.entries()) {
      try {
        if (isolate) {
          await this.writeIsolatingRefused(state.partition, snapshot);
          // Lost the partition while writing its rows: no checkpoint, so they are never restored.
          if (!final && !this.owns(state.partition)) continue;
          await this.store.writeSpeedCheckpoint(checkpoints[i]!);
        }
        state.checkpointed(snapshot);
        // A restart consumes from replayFrom: records up to nextOffset are replayed for the pages' sketches.
        committed.set(state.partition, snapshot.replayFrom);
      } catch (err) {
        if (state.checkpointVersion !== snapshot.version) state.restoreDirty(snapshot);
        this.logger.error({ err, partition: state.partition }, 'speed layer checkpoint of a partition failed; will retry');
      }
    }
    this.metrics.speedStateBytes.set(this.budget.used);
    if (committed.size === 0) return;
    this.metrics.speedCheckpointAge.set(Date.now() / 1000);
    // Handed over whole only when every partition's rows and checkpoint were written as one.
    const flush = !isolate && committed.size === pending.length ? { rows, checkpoints, previousVersions } : null;
    for (const listener of this.checkpointListeners) listener(flush);
    try {
      await this.consumer?.commit(committed);
    } catch (err) {
      // Harmless: the checkpoint is durable, and records below it are skipped on replay.
      this.logger.warn({ err }, 'speed layer offset commit failed after a durable checkpoint');
    }
  }

  /** Snapshots of the partitions' changes (late lanes included), under new versions. */
  private snapshots(states: readonly PartitionState[], withSketches: boolean): { state: PartitionState; snapshot: PartitionSnapshot }[] {
    // Newer than anything written before, including rows of a checkpoint that never completed.
    return states.map((state) => ({ state, snapshot: state.snapshot(Math.max(state.checkpointVersion + 1, Date.now()), withSketches) }));
  }

  private countWritten(written: readonly SpeedRows[]): void {
    let minutes = 0;
    let overflow = 0;
    let visitors = 0;
    let sketchBytes = 0;
    for (const rows of written) {
      minutes += rows.pageMinutes.length;
      overflow += rows.overflow.length;
      visitors += rows.visitors.length;
      for (const v of rows.visitors) sketchBytes += v.hll.length;
    }
    this.metrics.speedRowsWritten.inc({ kind: 'page_minute' }, minutes);
    this.metrics.speedRowsWritten.inc({ kind: 'overflow' }, overflow);
    this.metrics.speedRowsWritten.inc({ kind: 'visitors' }, visitors);
    this.metrics.speedSketchBytesWritten.inc(sketchBytes);
  }

  /**
   * Starts merging the late lanes into their stored rows, unless a merge is in flight or failed
   * a moment ago. Batches are applied meanwhile (the keys being read are not in memory, so their
   * events go to their lane entries, merged whole). Rounds follow one another while they make
   * progress; the flush tick retries otherwise. Freshness does not wait for this: the lanes are
   * written at every flush and read like any partition.
   */
  private mergeLanes(): void {
    if (this.laneMerge !== null || this.stopping || Date.now() < this.laneRetryAt) return;
    this.laneMerge = this.mergeLanesOnce().then(
      (progress) => {
        this.laneMerge = null;
        if (progress) this.mergeLanes();
      },
      () => {
        this.laneMerge = null;
      },
    );
  }

  /** One read for every partition's lane; true when entries were merged and others remain. */
  private async mergeLanesOnce(): Promise<boolean> {
    const owned: { statePromise: Promise<PartitionState>; state: PartitionState }[] = [];
    for (const statePromise of this.states.values()) {
      const state = await statePromise.catch(() => null);
      if (state !== null && state.laneEntries > 0 && this.owns(state.partition)) owned.push({ statePromise, state });
    }
    let merged = 0;
    // The partitions' reads run together.
    await Promise.all(
      owned.map(async ({ statePromise, state }) => {
        const read = state.laneKeys();
        if (read === null) return;
        try {
          const stored = await this.store.speedRowsFor(state.partition, state.checkpointVersion, read.keys);
          // Revoked or restored again while reading: the rows belong to another state.
          if (this.states.get(state.partition) !== statePromise) return;
          const n = state.mergeLane(stored, read);
          merged += n;
          this.metrics.speedLateMerged.inc(n);
        } catch (err) {
          this.laneRetryAt = Date.now() + this.options.flushIntervalMs;
          this.logger.error({ err, partition: state.partition }, 'speed layer could not read stored rows to merge its late lane into; will retry');
        }
      }),
    );
    return merged > 0 && owned.some(({ state }) => state.laneEntries > 0);
  }

  /** Writes one partition's rows, sending the rows the store refuses to the dead-letter topic. */
  private async writeIsolatingRefused(partition: number, snapshot: PartitionSnapshot): Promise<void> {
    const rows: TaggedRow[] = [
      ...snapshot.rows.pageMinutes.map((row): TaggedRow => ({ table: 'pageMinutes', row })),
      ...snapshot.rows.overflow.map((row): TaggedRow => ({ table: 'overflow', row })),
      ...snapshot.rows.visitors.map((row): TaggedRow => ({ table: 'visitors', row })),
      ...(snapshot.rows.sessions ?? []).map((row): TaggedRow => ({ table: 'sessions', row })),
      ...(snapshot.rows.openSessions ?? []).map((row): TaggedRow => ({ table: 'openSessions', row })),
    ];
    const refused = await writeIsolatingRefused(rows, (part) => this.store.writeSpeedRows(untag(part)));
    if (refused.length === 0) return;
    // Durable before the checkpoint that leaves these rows behind: nothing is lost unrecorded.
    await this.log.appendTo(
      this.deadLetterTopic,
      refused.map(({ row, error }) => ({
        key: null,
        value: JSON.stringify(row),
        headers: {
          [DEAD_LETTER_HEADERS.reason]: 'store_refused',
          [DEAD_LETTER_HEADERS.detail]: error.message.slice(0, 1000),
          [DEAD_LETTER_HEADERS.partition]: String(partition),
          [DEAD_LETTER_HEADERS.offset]: String(snapshot.nextOffset),
        },
      })),
    );
    this.metrics.speedDeadLetters.inc({ reason: 'store_refused' }, refused.length);
    this.logger.warn({ partition, count: refused.length, topic: this.deadLetterTopic, err: refused[0]?.error }, 'speed rows refused by the store were dead-lettered');
  }

  /**
   * Drops speed days before (latest boundary − margin). Runs at most every
   * `retentionCheckIntervalMs`; `force` runs it now (tests, operators).
   */
  async applyRetention(force = false): Promise<number | null> {
    const now = this.options.now();
    if (!force && now - this.lastRetentionCheck < this.options.retentionCheckIntervalMs) return this.retainedFrom;
    this.lastRetentionCheck = now;
    try {
      const boundary = await this.store.latestBoundary();
      if (boundary === null) return this.retainedFrom;
      this.boundaryMinute = bucketStart(boundary.cutoffTime, 'minute');
      const keepFrom = bucketStart(boundary.cutoffTime - this.options.retentionMarginMs, 'day');
      this.retainedFrom ??= await this.store.speedRetainedFrom();
      if (this.retainedFrom !== null && keepFrom <= this.retainedFrom) return this.retainedFrom;
      await this.store.dropSpeedBefore(keepFrom);
      this.retainedFrom = keepFrom;
      this.metrics.speedRetainedFrom.set(keepFrom / 1000);
      this.logger.info({ keepFrom: new Date(keepFrom).toISOString(), boundary: new Date(boundary.cutoffTime).toISOString() }, 'speed retention dropped days covered by the batch layer');
    } catch (err) {
      this.logger.warn({ err }, 'speed retention failed; will retry');
    }
    return this.retainedFrom;
  }

  /** Stops consuming after a final checkpoint. */
  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.stopping = true;
    const consumer = this.consumer;
    // A lane merge in flight lands before the last checkpoint (else it is redone after a restart).
    await this.laneMerge;
    if (consumer !== null) await consumer.stop(); // calls onRevoked, which writes a last checkpoint
    this.consumer = null;
    await this.flush(true);
    for (const p of [...this.states.keys()]) this.dropState(p);
    this.stopping = false;
  }
}

type TaggedRow =
  | { table: 'pageMinutes'; row: SpeedRows['pageMinutes'][number] }
  | { table: 'overflow'; row: SpeedRows['overflow'][number] }
  | { table: 'visitors'; row: SpeedRows['visitors'][number] }
  | { table: 'sessions'; row: NonNullable<SpeedRows['sessions']>[number] }
  | { table: 'openSessions'; row: NonNullable<SpeedRows['openSessions']>[number] };

function untag(rows: readonly TaggedRow[]): SpeedRows {
  const out: Required<SpeedRows> = { pageMinutes: [], overflow: [], visitors: [], sessions: [], openSessions: [] };
  for (const r of rows) {
    if (r.table === 'pageMinutes') out.pageMinutes.push(r.row);
    else if (r.table === 'overflow') out.overflow.push(r.row);
    else if (r.table === 'visitors') out.visitors.push(r.row);
    else if (r.table === 'sessions') out.sessions.push(r.row);
    else out.openSessions.push(r.row);
  }
  return out;
}

function checkpointOf(partition: number, snapshot: PartitionSnapshot): SpeedCheckpoint {
  return {
    partition,
    nextOffset: snapshot.nextOffset,
    replayFrom: snapshot.replayFrom,
    maxEventTime: Number.isFinite(snapshot.maxEventTime) ? snapshot.maxEventTime : 0,
    version: snapshot.version,
  };
}

function mergeRows(rows: readonly SpeedRows[]): SpeedRows {
  return {
    pageMinutes: rows.flatMap((r) => r.pageMinutes),
    overflow: rows.flatMap((r) => r.overflow),
    visitors: rows.flatMap((r) => r.visitors),
    sessions: rows.flatMap((r) => r.sessions ?? []),
    openSessions: rows.flatMap((r) => r.openSessions ?? []),
  };
}
