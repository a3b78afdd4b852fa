/**
 * The speed layer's state for one log partition: page-view counters per
 * (site, page, minute bucket), the offset they reflect, and the event-time watermark.
 * Pure and synchronous, so that taking a snapshot for a checkpoint is atomic.
 */
import { INTERVAL_MS, bucketStart } from '../shared/time-buckets.ts';
import type { PageView } from '../shared/page-view.ts';
import type { SpeedMinuteRow } from '../shared/view-store/index.ts';

export type ApplyOutcome = 'counted' | 'late' | 'replayed';

interface Counter {
  site: string;
  pageId: string;
  bucket: number;
  views: number;
}

export interface PartitionSnapshot {
  rows: SpeedMinuteRow[];
  nextOffset: number;
  maxEventTime: number;
  version: number;
}

/** The key of a page-minute counter. Sites cannot contain U+0001 (see page-view.ts). */
export function speedCounterKey(site: string, pageId: string, bucket: number): string {
  return `${site}\u0001${bucket}\u0001${pageId}`;
}

export class PartitionState {
  private readonly counters = new Map<string, Counter>();
  private readonly dirty = new Set<string>();
  /** Offset of the next record to apply; records below it are already reflected. */
  nextOffset: number;
  maxEventTime: number;
  /** Version of the last durable checkpoint. */
  checkpointVersion: number;
  private checkpointedOffset: number;

  constructor(
    readonly partition: number,
    private readonly allowedLatenessMs: number,
    restored?: { nextOffset: number; maxEventTime: number; version: number; rows: readonly SpeedMinuteRow[] },
  ) {
    this.nextOffset = restored?.nextOffset ?? 0;
    this.checkpointedOffset = this.nextOffset;
    this.maxEventTime = restored?.maxEventTime ?? Number.NEGATIVE_INFINITY;
    this.checkpointVersion = restored?.version ?? 0;
    for (const row of restored?.rows ?? []) {
      this.counters.set(speedCounterKey(row.site, row.pageId, row.bucket), {
        site: row.site,
        pageId: row.pageId,
        bucket: row.bucket,
        views: row.views,
      });
    }
  }

  /** Event time below which buckets are closed: late events for them are left to the batch layer. */
  get watermark(): number {
    return this.maxEventTime - this.allowedLatenessMs;
  }

  /** Whether the minute bucket holding `eventTime` is closed. */
  isLate(eventTime: number): boolean {
    return bucketStart(eventTime, 'minute') + INTERVAL_MS.minute <= this.watermark;
  }

  /** Marks a record that is not a usable event (invalid, dead-lettered) as consumed. */
  skip(offset: number): ApplyOutcome {
    if (offset < this.nextOffset) return 'replayed';
    this.nextOffset = offset + 1;
    return 'counted';
  }

  apply(offset: number, event: PageView): ApplyOutcome {
    if (offset < this.nextOffset) return 'replayed';
    this.nextOffset = offset + 1;
    if (this.isLate(event.timestamp)) return 'late';
    if (event.timestamp > this.maxEventTime) this.maxEventTime = event.timestamp;
    const bucket = bucketStart(event.timestamp, 'minute');
    const key = speedCounterKey(event.site, event.pageId, bucket);
    const counter = this.counters.get(key);
    if (counter === undefined) {
      this.counters.set(key, { site: event.site, pageId: event.pageId, bucket, views: 1 });
    } else {
      counter.views += 1;
    }
    this.dirty.add(key);
    return 'counted';
  }

  /** True when there is something a checkpoint would record. */
  get hasChanges(): boolean {
    return this.dirty.size > 0 || this.nextOffset !== this.checkpointedOffset;
  }

  /** Takes the rows to write (dirty counters) under a new version and clears the dirty marks. */
  snapshot(version: number): PartitionSnapshot {
    const rows: SpeedMinuteRow[] = [];
    for (const key of this.dirty) {
      const c = this.counters.get(key);
      if (c !== undefined) rows.push({ partition: this.partition, site: c.site, pageId: c.pageId, bucket: c.bucket, views: c.views, version });
    }
    this.dirty.clear();
    return { rows, nextOffset: this.nextOffset, maxEventTime: this.maxEventTime, version };
  }

  /** After a failed write: the snapshot's counters must be written again. */
  restoreDirty(snapshot: PartitionSnapshot): void {
    for (const row of snapshot.rows) this.dirty.add(speedCounterKey(row.site, row.pageId, row.bucket));
  }

  /** After a durable checkpoint: remember it and forget closed buckets, which can no longer change. */
  checkpointed(snapshot: PartitionSnapshot): void {
    this.checkpointVersion = snapshot.version;
    this.checkpointedOffset = snapshot.nextOffset;
    for (const [key, c] of this.counters) {
      if (!this.dirty.has(key) && this.isLate(c.bucket)) this.counters.delete(key);
    }
  }

  /** Number of counters held in memory. */
  get size(): number {
    return this.counters.size;
  }
}
