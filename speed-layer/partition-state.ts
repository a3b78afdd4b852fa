/**
 * The speed layer's state for one log partition, for its open (not yet closed) buckets:
 *
 *  - page views: an exact counter per (site, page, minute), up to `maxExactKeys` counters;
 *    beyond that, a page's views in a minute go to that (site, minute)'s overflow: an exact
 *    total, a Count-Min sketch by page and a Space-Saving summary of the top pages;
 *  - unique visitors: HyperLogLogs per (site, minute), per (site, hour) and per
 *    (site, page, hour) — the last only for pages that have an exact counter;
 *  - the offset the state reflects and the event-time watermark.
 *
 * Pure and synchronous, so that taking a snapshot for a checkpoint is atomic.
 */
import type { PageView } from '../shared/core/page-view.ts';
import { hash64, type Hash64 } from '../shared/core/sketches/hash.ts';
import { CountMinSketch, HyperLogLog, SpaceSaving } from '../shared/core/sketches/index.ts';
import { INTERVAL_MS, bucketStart, type Interval } from '../shared/core/time-buckets.ts';
import type { SpeedMinuteRow, SpeedOverflowRow, SpeedRows, SpeedVisitorsRow, VisitorsGrain } from '../shared/adapters/view-store/index.ts';

export type ApplyOutcome = 'counted' | 'late' | 'replayed';

export interface SketchSettings {
  allowedLatenessMs: number;
  maxExactKeys: number;
  cmsEpsilon: number;
  cmsDelta: number;
  topPagesCapacity: number;
  hllPrecision: number;
}

interface Counter {
  site: string;
  pageId: string;
  bucket: number;
  views: number;
}

interface Overflow {
  site: string;
  bucket: number;
  total: number;
  cms: CountMinSketch;
  topPages: SpaceSaving<string>;
}

interface Visitors {
  site: string;
  pageId: string;
  grain: VisitorsGrain;
  bucket: number;
  hll: HyperLogLog;
}

export interface PartitionSnapshot {
  rows: SpeedRows;
  nextOffset: number;
  maxEventTime: number;
  version: number;
}

const SEP = '\u0001';

/** The key of a page-minute counter. Site ids cannot contain U+0001 (see page-view.ts). */
export function speedCounterKey(site: string, pageId: string, bucket: number): string {
  return `${site}${SEP}${bucket}${SEP}${pageId}`;
}

function visitorsKey(site: string, pageId: string, grain: VisitorsGrain, bucket: number): string {
  return `${grain}${SEP}${site}${SEP}${bucket}${SEP}${pageId}`;
}

export class PartitionState {
  private readonly counters = new Map<string, Counter>();
  private readonly overflows = new Map<string, Overflow>();
  private readonly visitors = new Map<string, Visitors>();
  private readonly dirtyCounters = new Set<string>();
  private readonly dirtyOverflows = new Set<string>();
  private readonly dirtyVisitors = new Set<string>();
  private readonly visitorHash: Hash64 = { hi: 0, lo: 0 };
  private readonly pageHash: Hash64 = { hi: 0, lo: 0 };
  /** Offset of the next record to apply; records below it are already reflected. */
  nextOffset: number;
  maxEventTime: number;
  /** Version of the last durable checkpoint. */
  checkpointVersion: number;
  private checkpointedOffset: number;

  constructor(
    readonly partition: number,
    private readonly settings: SketchSettings,
    restored?: { nextOffset: number; maxEventTime: number; version: number; rows: SpeedRows },
  ) {
    this.nextOffset = restored?.nextOffset ?? 0;
    this.checkpointedOffset = this.nextOffset;
    this.maxEventTime = restored?.maxEventTime ?? Number.NEGATIVE_INFINITY;
    this.checkpointVersion = restored?.version ?? 0;
    if (restored !== undefined) this.restore(restored.rows);
  }

  private restore(rows: SpeedRows): void {
    for (const r of rows.pageMinutes) {
      this.counters.set(speedCounterKey(r.site, r.pageId, r.bucket), { site: r.site, pageId: r.pageId, bucket: r.bucket, views: r.views });
    }
    for (const r of rows.overflow) {
      this.overflows.set(`${r.site}${SEP}${r.bucket}`, {
        site: r.site,
        bucket: r.bucket,
        total: r.total,
        cms: CountMinSketch.fromCells(r.cmsWidth, r.cmsDepth, r.cms),
        topPages: SpaceSaving.fromJSON(JSON.parse(r.topPages) as unknown),
      });
    }
    for (const r of rows.visitors) {
      this.visitors.set(visitorsKey(r.site, r.pageId, r.grain, r.bucket), {
        site: r.site,
        pageId: r.pageId,
        grain: r.grain,
        bucket: r.bucket,
        hll: HyperLogLog.fromBase64(r.hll),
      });
    }
  }

  /** Event time below which buckets are closed: late events for them are left to the batch layer. */
  get watermark(): number {
    return this.maxEventTime - this.settings.allowedLatenessMs;
  }

  /** Whether a bucket of `interval` starting at `bucket` is closed. */
  private isClosed(bucket: number, interval: Interval): boolean {
    return bucket + INTERVAL_MS[interval] <= this.watermark;
  }

  /** Whether the minute bucket holding `eventTime` is closed. */
  isLate(eventTime: number): boolean {
    return this.isClosed(bucketStart(eventTime, 'minute'), 'minute');
  }

  /** Marks a record that is not a usable event (dead-lettered) as consumed. */
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
    const { site, pageId } = event;
    const minute = bucketStart(event.timestamp, 'minute');
    const hour = bucketStart(event.timestamp, 'hour');
    hash64(event.visitorId, this.visitorHash);

    const key = speedCounterKey(site, pageId, minute);
    const counter = this.counters.get(key);
    let tracked = true;
    if (counter !== undefined) {
      counter.views += 1;
      this.dirtyCounters.add(key);
    } else if (this.counters.size < this.settings.maxExactKeys) {
      this.counters.set(key, { site, pageId, bucket: minute, views: 1 });
      this.dirtyCounters.add(key);
    } else {
      tracked = false;
      this.addOverflow(site, pageId, minute);
    }

    this.addVisitor(site, '', 'minute', minute, true);
    this.addVisitor(site, '', 'hour', hour, true);
    this.addVisitor(site, pageId, 'hour', hour, tracked);
    return 'counted';
  }

  private addOverflow(site: string, pageId: string, minute: number): void {
    const key = `${site}${SEP}${minute}`;
    let overflow = this.overflows.get(key);
    if (overflow === undefined) {
      overflow = {
        site,
        bucket: minute,
        total: 0,
        cms: new CountMinSketch(this.settings.cmsEpsilon, this.settings.cmsDelta),
        topPages: new SpaceSaving<string>(this.settings.topPagesCapacity),
      };
      this.overflows.set(key, overflow);
    }
    overflow.total += 1;
    overflow.cms.addHash(hash64(pageId, this.pageHash), 1);
    overflow.topPages.add(pageId, 1);
    this.dirtyOverflows.add(key);
  }

  /** Adds the current visitor hash; `create` false only adds to an existing sketch. */
  private addVisitor(site: string, pageId: string, grain: VisitorsGrain, bucket: number, create: boolean): void {
    const key = visitorsKey(site, pageId, grain, bucket);
    let entry = this.visitors.get(key);
    if (entry === undefined) {
      if (!create) return;
      entry = { site, pageId, grain, bucket, hll: new HyperLogLog(this.settings.hllPrecision) };
      this.visitors.set(key, entry);
    }
    if (entry.hll.add(this.visitorHash.hi, this.visitorHash.lo)) this.dirtyVisitors.add(key);
  }

  /** True when there is something a checkpoint would record. */
  get hasChanges(): boolean {
    return (
      this.dirtyCounters.size > 0 ||
      this.dirtyOverflows.size > 0 ||
      this.dirtyVisitors.size > 0 ||
      this.nextOffset !== this.checkpointedOffset
    );
  }

  /** Takes the rows to write (what changed) under a new version and clears the dirty marks. */
  snapshot(version: number): PartitionSnapshot {
    const partition = this.partition;
    const pageMinutes: SpeedMinuteRow[] = [];
    for (const key of this.dirtyCounters) {
      const c = this.counters.get(key);
      if (c !== undefined) pageMinutes.push({ partition, site: c.site, pageId: c.pageId, bucket: c.bucket, views: c.views, version });
    }
    const overflow: SpeedOverflowRow[] = [];
    for (const key of this.dirtyOverflows) {
      const o = this.overflows.get(key);
      if (o === undefined) continue;
      overflow.push({
        partition,
        site: o.site,
        bucket: o.bucket,
        total: o.total,
        cmsWidth: o.cms.width,
        cmsDepth: o.cms.depth,
        cms: Array.from(o.cms.cells()),
        topPages: JSON.stringify(o.topPages.toJSON()),
        version,
      });
    }
    const visitors: SpeedVisitorsRow[] = [];
    for (const key of this.dirtyVisitors) {
      const v = this.visitors.get(key);
      if (v !== undefined) visitors.push({ partition, site: v.site, pageId: v.pageId, grain: v.grain, bucket: v.bucket, hll: v.hll.toBase64(), version });
    }
    this.dirtyCounters.clear();
    this.dirtyOverflows.clear();
    this.dirtyVisitors.clear();
    return { rows: { pageMinutes, overflow, visitors }, nextOffset: this.nextOffset, maxEventTime: this.maxEventTime, version };
  }

  /** After a failed write: the snapshot's rows must be written again. */
  restoreDirty(snapshot: PartitionSnapshot): void {
    for (const r of snapshot.rows.pageMinutes) this.dirtyCounters.add(speedCounterKey(r.site, r.pageId, r.bucket));
    for (const r of snapshot.rows.overflow) this.dirtyOverflows.add(`${r.site}${SEP}${r.bucket}`);
    for (const r of snapshot.rows.visitors) this.dirtyVisitors.add(visitorsKey(r.site, r.pageId, r.grain, r.bucket));
  }

  /** After a durable checkpoint: remember it and forget closed buckets, which can no longer change. */
  checkpointed(snapshot: PartitionSnapshot): void {
    this.checkpointVersion = snapshot.version;
    this.checkpointedOffset = snapshot.nextOffset;
    for (const [key, c] of this.counters) {
      if (!this.dirtyCounters.has(key) && this.isClosed(c.bucket, 'minute')) this.counters.delete(key);
    }
    for (const [key, o] of this.overflows) {
      if (!this.dirtyOverflows.has(key) && this.isClosed(o.bucket, 'minute')) this.overflows.delete(key);
    }
    for (const [key, v] of this.visitors) {
      if (!this.dirtyVisitors.has(key) && this.isClosed(v.bucket, v.grain)) this.visitors.delete(key);
    }
  }

  /** Exact counters held in memory. */
  get size(): number {
    return this.counters.size;
  }

  /** Approximate bytes of state held (counters, sketches and map overhead). */
  get memoryBytes(): number {
    let bytes = this.counters.size * 160;
    for (const o of this.overflows.values()) bytes += 200 + o.cms.memoryBytes + o.topPages.size * 120;
    for (const v of this.visitors.values()) bytes += 160 + v.hll.memoryBytes;
    return bytes;
  }
}
