/**
 * The speed layer's state for one log partition:
 *
 *  - page views: an exact counter per (site, page, minute), up to `maxExactKeys` counters and
 *    while the memory budget allows; beyond either, a page's views in a minute go to that
 *    (site, minute)'s overflow: an exact total, a Count-Min sketch by page and a Space-Saving
 *    summary of the top pages;
 *  - unique visitors: HyperLogLogs per (site, minute), per (site, hour) and per
 *    (site, page, hour) — the last only for pages that have an exact counter;
 *  - the offset the state reflects.
 *
 * Late data (ARCHITECTURE.md invariant 8). Every valid event whose minute is at or after the
 * batch boundary is counted, however late it arrives. Buckets are *resident* (held in memory)
 * from `residentFrom` on: the start of the minute `hotWindowMs` before the wall clock, advanced
 * at each checkpoint. Older buckets are written out and evicted. What an event adds to a key of
 * an older bucket whose stored row is not in memory goes to the partition's *late lane*: an
 * entry per key (views to add, visitors to unite), written at the next flush under
 * `speedLateLane(partition)`, which readers add like any other partition. So a late event is as
 * fresh as a current one (one flush), with no read in its way. In the background the speed
 * layer reads the stored rows of the lane's keys (`laneKeys`), and `mergeLane` adds the lane's
 * entries into them (now in memory) and empties the lane's rows, in the same flush. So memory
 * stays bounded however late events are, and no event time — no client's clock — decides what
 * another event counts: residency follows the wall clock.
 *
 * Page sketches. The visitor sketches of pages (per page and hour) are most of what a flush
 * would write once they are dense (about 22 KB each in base64), so they are written only by
 * snapshots `withSketches` (every `sketchIntervalMs`; everything else at every flush). A
 * snapshot's `replayFrom` is the offset their written state reflects: a restart consumes from
 * there, and records below `nextOffset` add only their visitors to the pages' sketches —
 * idempotent, so nothing is counted twice.
 *
 * Layout. State is nested by site, then page, then bucket (maps keyed by the event's own
 * strings and by numbers), so applying an event builds no strings; changed entries carry a
 * dirty flag and sit in a dirty list, so a snapshot visits only what changed.
 *
 * Pure and synchronous (the clock is injected), so that taking a snapshot for a checkpoint is atomic.
 */
import type { PageView } from '../shared/core/page-view.ts';
import { ByteBudget, EVICTION_PASS_MS, MEMORY_BYTES, residentFromAt } from './state-memory.ts';
import { hash64, type Hash64 } from '../shared/core/sketches/hash.ts';
import { CountMinSketch, HyperLogLog, SpaceSaving } from '../shared/core/sketches/index.ts';
import { INTERVAL_MS } from '../shared/core/time-buckets.ts';
import { DIMENSION_PROPERTIES, dimensionSite, isDimensionSite } from '../shared/core/dimensions.ts';
import { propertyValue } from '../shared/core/query/properties.ts';
import { sessionSite } from '../shared/core/query/sessions-query.ts';
import { SessionState, type SessionLaneRead, type SessionSnapshot, type SessionSumKind, type SessionSumRow } from './session-state.ts';
import {
  speedLateLane,
  type SpeedMinuteRow,
  type SpeedOverflowRow,
  type SpeedRowKeys,
  type SpeedRows,
  type SpeedSessionRow,
  type SpeedVisitorsRow,
  type VisitorsGrain,
} from '../shared/adapters/view-store/index.ts';

/**
 * `counted`: in the state now (late events too: partly in the late lane); `before_boundary`: the
 * batch layer's (its minute is before the published boundary); `replayed`: already reflected
 * (below the checkpointed offset).
 */
export { ByteBudget, EVICTION_PASS_MS, MEMORY_BYTES, residentFromAt } from './state-memory.ts';

export type ApplyOutcome = 'counted' | 'before_boundary' | 'replayed';

export interface SketchSettings {
  /** Minutes younger than this (by the wall clock) stay in memory. */
  hotWindowMs: number;
  maxExactKeys: number;
  cmsEpsilon: number;
  cmsDelta: number;
  topPagesCapacity: number;
  hllPrecision: number;
  /** Keep the dimension views (views and visitors per value of each visit property; see shared/core/dimensions.ts). @default true */
  dimensions?: boolean;
  /** Keep sessions (visits, bounces, duration, entry and exit pages; see session-state.ts). @default true */
  sessions?: boolean;
  /** Wall clock. */
  now: () => number;
}


function dimensionNamesBytes(names: readonly string[] | null): number {
  if (names === null) return 0;
  let bytes = MEMORY_BYTES.array(names.length);
  for (const name of names) bytes += MEMORY_BYTES.string(name);
  return bytes;
}

/*
 * Buckets are held as minute numbers (epoch ms / 60,000; an hour by its first minute): small
 * integers, which V8 stores in the object itself, where epoch ms would be a boxed double each.
 */
class MinuteCounter {
  dirty = false;
  /** Updated since the last eviction pass. */
  touched = true;
  constructor(
    readonly site: string,
    readonly pageId: string,
    readonly minute: number,
    public views: number,
  ) {}
}

class VisitorsSketch {
  dirty = false;
  touched = true;
  bytes: number;
  constructor(
    readonly site: string,
    readonly pageId: string,
    readonly grain: VisitorsGrain,
    readonly minute: number,
    public hll: HyperLogLog,
  ) {
    this.bytes = hll.memoryBytes;
  }
}

/** A late-lane counter: views to add to a stored row not in memory (see PartitionState). */
class LaneCounter extends MinuteCounter {
  /** Added into the partition's row: written once more, as 0, then dropped. */
  merged = false;
}

/** A late-lane sketch: visitors to unite with a stored sketch not in memory. */
class LaneSketch extends VisitorsSketch {
  merged = false;
}

class Overflow {
  dirty = false;
  touched = true;
  bytes: number;
  constructor(
    readonly site: string,
    readonly minute: number,
    public total: number,
    readonly cms: CountMinSketch,
    readonly topPages: SpaceSaving<string>,
  ) {
    this.bytes = cms.memoryBytes;
  }
}

/**
 * A page's resident buckets. Exact-size arrays (see `append`), not maps: a page holds a few
 * buckets (the hot window), an empty Map costs about 180 bytes in V8, and the bucket sought is
 * almost always the last one.
 */
class PageEntry {
  minutes: MinuteCounter[] = [];
  hours: VisitorsSketch[] = [];
}

class SiteEntry {
  constructor(
    /** A dimension site (shared/core/dimensions.ts): its values have a key budget of their own. */
    readonly dimension: boolean,
  ) {}
  /** The names of the site's dimension sites, by DIMENSION_PROPERTIES index (made at its first event). */
  dimensionSites: readonly string[] | null = null;
  readonly pages = new Map<string, PageEntry>();
  readonly minuteVisitors: VisitorsSketch[] = [];
  readonly hourVisitors: VisitorsSketch[] = [];
  readonly overflows: Overflow[] = [];
}

/** The entry of a minute (number) in a list of resident buckets, searched from the newest. */
function find<T extends { minute: number }>(list: readonly T[], minute: number): T | undefined {
  for (let i = list.length - 1; i >= 0; i--) {
    const entry = list[i]!;
    if (entry.minute === minute) return entry;
  }
  return undefined;
}

/**
 * `list` with `entry` added, as a new array of exactly that length: V8 gives an array that is
 * pushed to 17 slots or more, 150 bytes for a page that holds one minute.
 */
function append<T>(list: readonly T[], entry: T): T[] {
  return list.length === 0 ? [entry] : [...list, entry];
}

/** Removes the entries `drop` selects, in place; returns them. */
function removeWhere<T>(list: T[], drop: (entry: T) => boolean): T[] {
  const removed: T[] = [];
  let kept = 0;
  for (const entry of list) {
    if (drop(entry)) removed.push(entry);
    else list[kept++] = entry;
  }
  list.length = kept;
  return removed;
}

export interface PartitionSnapshot {
  rows: SpeedRows;
  /** The sessions' part (null without sessions), to mark dirty again after a failed write. */
  readonly sessions: SessionSnapshot | null;
  nextOffset: number;
  /** ≤ nextOffset: the pages' visitor sketches written so far reflect every record below it. */
  replayFrom: number;
  maxEventTime: number;
  version: number;
  /** The entries the rows were taken from, to mark dirty again after a failed write. */
  readonly entries: readonly (MinuteCounter | VisitorsSketch | Overflow)[];
}

export interface RestoredPartition {
  nextOffset: number;
  /** Records from here to `nextOffset` are replayed for the pages' visitor sketches. @default nextOffset */
  replayFrom?: number;
  maxEventTime: number;
  version: number;
  /** Every stored row of a bucket at or after `residentFrom` (hour sketches: of the hour holding it on). */
  rows: SpeedRows;
  residentFrom: number;
  /** The late lane's stored rows (`speedLateLane(partition)`): taken back into the lane. */
  lane?: Pick<SpeedRows, 'pageMinutes' | 'visitors'> & Pick<SpeedRows, 'sessions'>;
}

/** The site a session sum row of `kind` is kept under (shared/core/query/sessions-query.ts). */
function sessionRowSite(site: string, kind: SessionSumKind): string {
  return kind === 'total' ? site : sessionSite(site, kind === 'entry' ? 'visit:entry_page' : 'visit:exit_page');
}

const ENTRY_SUFFIX = sessionSite('', 'visit:entry_page');
const EXIT_SUFFIX = sessionSite('', 'visit:exit_page');

/** A stored session row as the session state's sum row. */
function toSumRow(r: SpeedSessionRow): SessionSumRow {
  const kind: SessionSumKind = r.site.endsWith(ENTRY_SUFFIX) ? 'entry' : r.site.endsWith(EXIT_SUFFIX) ? 'exit' : 'total';
  const site = kind === 'total' ? r.site : r.site.slice(0, r.site.length - (kind === 'entry' ? ENTRY_SUFFIX : EXIT_SUFFIX).length);
  return { site, kind, pageId: r.pageId, bucket: r.bucket, visits: r.visits, bounces: r.bounces, durationMs: r.durationMs, pageviews: r.pageviews };
}

/** A read of the stored rows the late lane's entries are to be added into (see `PartitionState.laneKeys`). */
export interface LaneRead {
  keys: SpeedRowKeys;
  /** The lane entries it covers. */
  readonly ids: readonly string[];
  /** The sessions' lane entries it covers (their keys are in `keys.sessions`). */
  readonly sessions: SessionLaneRead | null;
}


const MINUTE_MS = INTERVAL_MS.minute;
const HOUR_MS = INTERVAL_MS.hour;
const MINUTES_PER_HOUR = 60;

/** A late-lane entry's key: its kind (`views`, or the visitors grain), site, page and minute. */
function laneId(kind: 'views' | VisitorsGrain, site: string, pageId: string, minute: number): string {
  return `${kind}\u0001${site}\u0001${pageId}\u0001${minute}`;
}

function laneEntryBytes(id: string, entry: LaneCounter | LaneSketch): number {
  const own = entry instanceof LaneCounter ? MEMORY_BYTES.counter : MEMORY_BYTES.visitorsEntry + entry.bytes;
  return own + MEMORY_BYTES.string(id) + MEMORY_BYTES.laneSlot;
}

export class PartitionState {
  private readonly sites = new Map<string, SiteEntry>();
  private dirtyCounters: MinuteCounter[] = [];
  private dirtyVisitors: VisitorsSketch[] = [];
  /** Changed visitor sketches of pages, written by snapshots `withSketches` (entries may repeat or be clean: skipped). */
  private pageSketches: VisitorsSketch[] = [];
  private dirtyOverflows: Overflow[] = [];
  /** The late lane, by `laneId`. */
  private readonly lane = new Map<string, LaneCounter | LaneSketch>();
  private laneUnmerged = 0;
  private readonly visitorHash: Hash64 = { hi: 0, lo: 0 };
  private readonly pageHash: Hash64 = { hi: 0, lo: 0 };
  /** Exact page-minute counters held, and exact dimension-value counters: each up to `maxExactKeys`. */
  private exactKeys = 0;
  private dimensionKeys = 0;
  /** Offset of the next record to apply; records below it are already reflected. */
  nextOffset: number;
  /** Records below it are reflected in the pages' written sketches too (see `PartitionSnapshot.replayFrom`). */
  replayFrom: number;
  /** Highest event time applied (informational: it decides nothing). */
  maxEventTime: number;
  /** Version of the last durable checkpoint. */
  checkpointVersion: number;
  /** Minutes from here on are resident: a stored row of such a bucket is in memory. */
  residentFrom: number;
  /** Start of the published batch boundary's minute: earlier events are the batch layer's. */
  boundary = Number.NEGATIVE_INFINITY;
  private checkpointedOffset: number;
  /** The partition's sessions (null when `settings.sessions` is false). */
  readonly sessions: SessionState | null;

  constructor(
    readonly partition: number,
    private readonly settings: SketchSettings,
    private readonly budget: ByteBudget = new ByteBudget(Number.POSITIVE_INFINITY),
    restored?: RestoredPartition,
  ) {
    this.nextOffset = restored?.nextOffset ?? 0;
    this.replayFrom = Math.min(restored?.replayFrom ?? this.nextOffset, this.nextOffset);
    this.checkpointedOffset = this.nextOffset;
    this.maxEventTime = restored?.maxEventTime ?? Number.NEGATIVE_INFINITY;
    this.checkpointVersion = restored?.version ?? 0;
    this.residentFrom = restored?.residentFrom ?? residentFromAt(settings.now(), settings.hotWindowMs);
    this.sessions =
      settings.sessions === false
        ? null
        : new SessionState(
            { hotWindowMs: settings.hotWindowMs, now: settings.now },
            budget,
            restored === undefined
              ? undefined
              : {
                  residentFrom: this.residentFrom,
                  sums: (restored.rows.sessions ?? []).map(toSumRow),
                  openSessions: (restored.rows.openSessions ?? []).map(({ partition, removed, version, lastEvent, ...session }) => ({
                    ...session,
                    ...(lastEvent === '' ? {} : { lastEventHash: lastEvent }),
                  })),
                  lane: (restored.lane?.sessions ?? []).map(toSumRow),
                },
          );
    if (restored !== undefined) this.load(restored.rows);
    // The lane's rows as written (clean); emptied ones are left out.
    for (const r of restored?.lane?.pageMinutes ?? []) {
      if (r.views > 0) this.laneCounter(r.site, r.pageId, r.bucket / MINUTE_MS).views = r.views;
    }
    for (const r of restored?.lane?.visitors ?? []) {
      const hll = HyperLogLog.fromBase64(r.hll);
      if (hll.isEmpty) continue;
      const sketch = this.laneSketch(r.site, r.pageId, r.grain, r.bucket / MINUTE_MS);
      sketch.hll.merge(hll);
      this.resize(sketch);
    }
  }

  /** Takes stored rows into memory where no entry holds their key yet (they are clean). */
  private load(rows: Pick<SpeedRows, 'pageMinutes' | 'visitors'> & Partial<Pick<SpeedRows, 'overflow'>>): void {
    for (const r of rows.pageMinutes) {
      const site = this.site(r.site);
      const page = this.page(site, r.pageId);
      const minute = r.bucket / MINUTE_MS;
      if (find(page.minutes, minute) !== undefined) continue;
      page.minutes = append(page.minutes, new MinuteCounter(r.site, r.pageId, minute, r.views));
      this.countKeys(site, 1);
      this.budget.used += MEMORY_BYTES.counter;
    }
    for (const r of rows.overflow ?? []) {
      const site = this.site(r.site);
      if (find(site.overflows, r.bucket / MINUTE_MS) !== undefined) continue;
      const overflow = new Overflow(
        r.site,
        r.bucket / MINUTE_MS,
        r.total,
        CountMinSketch.fromCells(r.cmsWidth, r.cmsDepth, r.cms),
        SpaceSaving.fromJSON(JSON.parse(r.topPages) as unknown),
      );
      site.overflows.push(overflow);
      this.budget.used += MEMORY_BYTES.overflowEntry + overflow.bytes + overflow.topPages.size * MEMORY_BYTES.counter;
    }
    for (const r of rows.visitors) {
      const minute = r.bucket / MINUTE_MS;
      const site = this.site(r.site);
      const page = r.pageId === '' ? null : this.page(site, r.pageId);
      const list = page !== null ? page.hours : r.grain === 'minute' ? site.minuteVisitors : site.hourVisitors;
      if (find(list, minute) !== undefined) continue;
      const sketch = new VisitorsSketch(r.site, r.pageId, r.grain, minute, HyperLogLog.fromBase64(r.hll));
      if (page !== null) page.hours = append(page.hours, sketch);
      else list.push(sketch);
      this.budget.used += MEMORY_BYTES.visitorsEntry + sketch.bytes;
    }
  }

  private site(site: string): SiteEntry {
    let entry = this.sites.get(site);
    if (entry === undefined) {
      entry = new SiteEntry(isDimensionSite(site));
      this.sites.set(site, entry);
      this.budget.used += MEMORY_BYTES.site + MEMORY_BYTES.string(site);
    }
    return entry;
  }

  private page(site: SiteEntry, pageId: string): PageEntry {
    let page = site.pages.get(pageId);
    if (page === undefined) {
      page = new PageEntry();
      site.pages.set(pageId, page);
      this.budget.used += MEMORY_BYTES.page + MEMORY_BYTES.string(pageId);
    }
    return page;
  }

  /** Marks a record that is not a usable event (dead-lettered) as consumed. */
  skip(offset: number): ApplyOutcome {
    if (offset < this.nextOffset) return 'replayed';
    this.nextOffset = offset + 1;
    return 'counted';
  }

  apply(offset: number, event: PageView): ApplyOutcome {
    if (offset < this.nextOffset) {
      if (offset >= this.replayFrom) this.replayPageVisitors(event);
      return 'replayed';
    }
    this.nextOffset = offset + 1;
    const minute = Math.floor(event.timestamp / MINUTE_MS);
    // Sessions see every event: one before the boundary continues its visitor's session uncounted
    // (the batch layer counts it), so a visit that crosses the boundary is not counted again.
    const counted = minute * MINUTE_MS >= this.boundary;
    this.sessions?.apply(event, counted);
    if (!counted) return 'before_boundary';
    if (event.timestamp > this.maxEventTime) this.maxEventTime = event.timestamp;
    hash64(event.visitorId, this.visitorHash);
    const { hi, lo } = this.visitorHash;
    const site = this.count(event.site, event.pageId, minute, hi, lo, true);
    if (this.settings.dimensions !== false) {
      const names = this.dimensionSites(site, event.site);
      for (let i = 0; i < names.length; i++) this.count(names[i]!, propertyValue(DIMENSION_PROPERTIES[i]!, event), minute, hi, lo, false);
    }
    return 'counted';
  }

  /** The dimension sites of a site (see shared/core/dimensions.ts), named once per resident site. */
  private dimensionSites(site: SiteEntry, siteId: string): readonly string[] {
    if (site.dimensionSites === null) {
      site.dimensionSites = DIMENSION_PROPERTIES.map((p) => dimensionSite(siteId, p));
      this.budget.used += dimensionNamesBytes(site.dimensionSites);
    }
    return site.dimensionSites;
  }

  /**
   * Adds a replayed event's visitor to its page's sketch of the hour (the only state a checkpoint
   * may not have written yet). Idempotent; the page gets the sketch even if its views overflowed.
   */
  private replayPageVisitors(event: PageView): void {
    const minute = Math.floor(event.timestamp / MINUTE_MS);
    if (minute * MINUTE_MS < this.boundary) return;
    hash64(event.visitorId, this.visitorHash);
    const { hi, lo } = this.visitorHash;
    const hour = minute - (minute % MINUTES_PER_HOUR);
    const site = this.site(event.site);
    this.addPageVisitor(site, site.pages.get(event.pageId), event.site, event.pageId, hour, hi, lo);
    if (this.settings.dimensions === false) return;
    const names = this.dimensionSites(site, event.site);
    for (let i = 0; i < names.length; i++) {
      const dimension = this.site(names[i]!);
      const value = propertyValue(DIMENSION_PROPERTIES[i]!, event);
      this.addPageVisitor(dimension, dimension.pages.get(value), names[i]!, value, hour, hi, lo);
    }
  }

  /**
   * Counts one event. Each of its keys (page-minute views; site-minute, site-hour and page-hour
   * visitors) goes to its entry in memory; a key of a bucket wholly before `residentFrom` whose
   * entry is not in memory goes to the late lane (whatever the budgets: lane entries are merged
   * and dropped soon). A page's visitors per hour are kept where its views are exact. A
   * dimension site's value is counted as a page, without `siteVisitors`. Returns the site's entry.
   */
  private count(siteId: string, pageId: string, minute: number, hi: number, lo: number, siteVisitors: boolean): SiteEntry {
    const hour = minute - (minute % MINUTES_PER_HOUR);
    const from = this.residentFrom / MINUTE_MS;
    const minuteClosed = minute < from;
    const hourClosed = hour + MINUTES_PER_HOUR <= from;
    const site = this.site(siteId);
    let page = site.pages.get(pageId);
    let counter: MinuteCounter | undefined = page === undefined ? undefined : find(page.minutes, minute);
    if (counter === undefined) {
      if (minuteClosed) {
        counter = this.laneCounter(siteId, pageId, minute);
      } else if ((site.dimension ? this.dimensionKeys : this.exactKeys) < this.settings.maxExactKeys && !this.budget.full) {
        page ??= this.page(site, pageId);
        counter = new MinuteCounter(siteId, pageId, minute, 0);
        page.minutes = append(page.minutes, counter);
        this.countKeys(site, 1);
        this.budget.used += MEMORY_BYTES.counter;
      }
    }
    if (counter !== undefined) this.bump(counter, 1);
    else this.addOverflow(site, siteId, pageId, minute);
    if (siteVisitors) {
      this.addVisitor(
        find(site.minuteVisitors, minute) ??
          (minuteClosed ? this.laneSketch(siteId, '', 'minute', minute) : this.newSketch(site.minuteVisitors, siteId, '', 'minute', minute)),
        hi,
        lo,
      );
      this.addVisitor(
        find(site.hourVisitors, hour) ?? (hourClosed ? this.laneSketch(siteId, '', 'hour', hour) : this.newSketch(site.hourVisitors, siteId, '', 'hour', hour)),
        hi,
        lo,
      );
    }
    if (counter !== undefined) this.addPageVisitor(site, page, siteId, pageId, hour, hi, lo);
    return site;
  }

  /** A visitor of a page in an hour: to its sketch in memory (written with the page sketches), else the late lane's. */
  private addPageVisitor(site: SiteEntry, page: PageEntry | undefined, siteId: string, pageId: string, hour: number, hi: number, lo: number): void {
    const sketch = page === undefined ? undefined : find(page.hours, hour);
    if (sketch !== undefined) {
      this.addVisitor(sketch, hi, lo, true);
    } else if (hour + MINUTES_PER_HOUR <= this.residentFrom / MINUTE_MS) {
      this.addVisitor(this.laneSketch(siteId, pageId, 'hour', hour), hi, lo);
    } else {
      const entry = page ?? this.page(site, pageId);
      const created = this.newSketch(null, siteId, pageId, 'hour', hour);
      entry.hours = append(entry.hours, created);
      this.addVisitor(created, hi, lo, true);
    }
  }

  private bump(counter: MinuteCounter, views: number): void {
    counter.views += views;
    counter.touched = true;
    if (!counter.dirty) {
      counter.dirty = true;
      this.dirtyCounters.push(counter);
    }
  }

  /** A new, empty visitors sketch, added to `list` unless null (the caller places it). */
  private newSketch(list: VisitorsSketch[] | null, site: string, pageId: string, grain: VisitorsGrain, minute: number): VisitorsSketch {
    const sketch = new VisitorsSketch(site, pageId, grain, minute, new HyperLogLog(this.settings.hllPrecision));
    list?.push(sketch);
    this.budget.used += MEMORY_BYTES.visitorsEntry + sketch.bytes;
    return sketch;
  }

  /** The late lane's counter of a key (created at 0, or taken up again after a merge). */
  private laneCounter(site: string, pageId: string, minute: number): LaneCounter {
    return this.laneEntry(laneId('views', site, pageId, minute), () => new LaneCounter(site, pageId, minute, 0));
  }

  /** The late lane's visitors sketch of a key (created empty, or taken up again after a merge). */
  private laneSketch(site: string, pageId: string, grain: VisitorsGrain, minute: number): LaneSketch {
    return this.laneEntry(laneId(grain, site, pageId, minute), () => new LaneSketch(site, pageId, grain, minute, new HyperLogLog(this.settings.hllPrecision)));
  }

  /** The lane entry `id`, created by `create` if missing; either way it counts as unmerged. */
  private laneEntry<T extends LaneCounter | LaneSketch>(id: string, create: () => T): T {
    let entry = this.lane.get(id) as T | undefined;
    if (entry === undefined) {
      entry = create();
      this.lane.set(id, entry);
      this.budget.used += laneEntryBytes(id, entry);
      this.laneUnmerged += 1;
    } else if (entry.merged) {
      entry.merged = false;
      this.laneUnmerged += 1;
    }
    return entry;
  }

  private addOverflow(site: SiteEntry, siteId: string, pageId: string, minute: number): void {
    let overflow = find(site.overflows, minute);
    if (overflow === undefined) {
      overflow = new Overflow(
        siteId,
        minute,
        0,
        new CountMinSketch(this.settings.cmsEpsilon, this.settings.cmsDelta),
        new SpaceSaving<string>(this.settings.topPagesCapacity),
      );
      site.overflows.push(overflow);
      this.budget.used += MEMORY_BYTES.overflowEntry + overflow.bytes;
    }
    overflow.total += 1;
    overflow.touched = true;
    overflow.cms.addHash(hash64(pageId, this.pageHash), 1);
    const tracked = overflow.topPages.size;
    overflow.topPages.add(pageId, 1);
    if (overflow.topPages.size > tracked) this.budget.used += MEMORY_BYTES.counter;
    if (!overflow.dirty) {
      overflow.dirty = true;
      this.dirtyOverflows.push(overflow);
    }
  }

  /** `pageSketch`: a page's sketch in memory, written with the page sketches (see `snapshot`). */
  private addVisitor(sketch: VisitorsSketch, hi: number, lo: number, pageSketch = false): void {
    sketch.touched = true;
    if (!sketch.hll.add(hi, lo)) return;
    this.resize(sketch);
    if (sketch.dirty) return;
    sketch.dirty = true;
    (pageSketch ? this.pageSketches : this.dirtyVisitors).push(sketch);
  }

  /** Marks a sketch to be written by the next snapshot, whatever its kind. */
  private markDirty(sketch: VisitorsSketch): void {
    // A page sketch already dirty sits in `pageSketches`: listed here too, it is written once, by the first.
    sketch.dirty = true;
    this.dirtyVisitors.push(sketch);
  }

  /** Brings the budget in step with a sketch whose registers changed. */
  private resize(sketch: VisitorsSketch): void {
    const bytes = sketch.hll.memoryBytes;
    this.budget.used += bytes - sketch.bytes;
    sketch.bytes = bytes;
  }

  /** Late-lane entries not yet added into their stored rows (see `laneKeys`). */
  get laneEntries(): number {
    return this.laneUnmerged + (this.sessions?.laneEntries ?? 0);
  }

  /**
   * The stored rows (this partition's own) that the late lane's entries are to be added into,
   * or null when the lane has nothing to merge. Events may be applied while they are read: a
   * key's row is not in memory, so it is not written, and its events go to its lane entry,
   * which `mergeLane` adds whole.
   */
  laneKeys(): LaneRead | null {
    const keys: SpeedRowKeys = { pageMinutes: [], visitors: [] };
    const ids: string[] = [];
    for (const [id, entry] of this.lane) {
      if (entry.merged) continue;
      ids.push(id);
      if (entry instanceof LaneCounter) keys.pageMinutes.push({ site: entry.site, pageId: entry.pageId, bucket: entry.minute * MINUTE_MS });
      else keys.visitors.push({ site: entry.site, pageId: entry.pageId, grain: entry.grain, bucket: entry.minute * MINUTE_MS });
    }
    const sessions = this.sessions?.laneKeys() ?? null;
    if (sessions !== null) keys.sessions = sessions.keys.map((k) => ({ site: sessionRowSite(k.site, k.kind), pageId: k.pageId, bucket: k.bucket }));
    return ids.length === 0 && sessions === null ? null : { keys, ids, sessions };
  }

  /**
   * Takes the stored rows of a `laneKeys()` read (as of the checkpoint it was made at) into
   * memory and adds each lane entry it covers into its row there (created if none was stored);
   * the lane entry becomes empty. Both are written by the next flush, so readers, who add the
   * lane, count every event once before and after. Returns the lane entries merged.
   */
  mergeLane(stored: Pick<SpeedRows, 'pageMinutes' | 'visitors' | 'sessions'>, read: LaneRead): number {
    this.load(stored);
    let merged = read.sessions === null ? 0 : (this.sessions?.mergeLane((stored.sessions ?? []).map(toSumRow), read.sessions) ?? 0);
    for (const id of read.ids) {
      const entry = this.lane.get(id);
      if (entry === undefined || entry.merged) continue;
      const site = this.site(entry.site);
      if (entry instanceof LaneCounter) {
        const page = this.page(site, entry.pageId);
        let counter = find(page.minutes, entry.minute);
        if (counter === undefined) {
          counter = new MinuteCounter(entry.site, entry.pageId, entry.minute, 0);
          page.minutes = append(page.minutes, counter);
          this.countKeys(site, 1);
          this.budget.used += MEMORY_BYTES.counter;
        }
        this.bump(counter, entry.views);
        entry.views = 0;
        if (!entry.dirty) {
          entry.dirty = true;
          this.dirtyCounters.push(entry);
        }
      } else {
        const page = entry.pageId === '' ? null : this.page(site, entry.pageId);
        const list = page !== null ? page.hours : entry.grain === 'minute' ? site.minuteVisitors : site.hourVisitors;
        let sketch = find(list, entry.minute);
        if (sketch === undefined) {
          sketch = this.newSketch(null, entry.site, entry.pageId, entry.grain, entry.minute);
          if (page !== null) page.hours = append(page.hours, sketch);
          else list.push(sketch);
        }
        sketch.hll.merge(entry.hll);
        sketch.touched = true;
        this.resize(sketch);
        this.markDirty(sketch);
        entry.hll = new HyperLogLog(this.settings.hllPrecision);
        this.resize(entry);
        this.markDirty(entry);
      }
      entry.merged = true;
      this.laneUnmerged -= 1;
      merged += 1;
    }
    return merged;
  }

  /** True when there is something a checkpoint would record (`withSketches`: the pages' sketches included). */
  hasChanges(withSketches = true): boolean {
    return (
      this.dirtyCounters.length > 0 ||
      this.dirtyOverflows.length > 0 ||
      this.dirtyVisitors.length > 0 ||
      (withSketches && this.pageSketches.some((v) => v.dirty)) ||
      this.nextOffset !== this.checkpointedOffset ||
      (this.sessions?.hasChanges() ?? false)
    );
  }

  /**
   * Takes the rows to write (what changed) under a new version and clears the dirty marks. Late
   * lane entries are written under the partition's late lane.
   */
  snapshot(version: number, withSketches = true): PartitionSnapshot {
    const own = this.partition;
    const lane = speedLateLane(own);
    const entries: (MinuteCounter | VisitorsSketch | Overflow)[] = [];
    const pageMinutes: SpeedMinuteRow[] = [];
    for (const c of this.dirtyCounters) {
      c.dirty = false;
      entries.push(c);
      pageMinutes.push({ partition: c instanceof LaneCounter ? lane : own, site: c.site, pageId: c.pageId, bucket: c.minute * MINUTE_MS, views: c.views, version });
    }
    const overflow: SpeedOverflowRow[] = [];
    for (const o of this.dirtyOverflows) {
      o.dirty = false;
      entries.push(o);
      overflow.push({
        partition: own,
        site: o.site,
        bucket: o.minute * MINUTE_MS,
        total: o.total,
        cmsWidth: o.cms.width,
        cmsDepth: o.cms.depth,
        cms: Array.from(o.cms.cells()),
        topPages: JSON.stringify(o.topPages.toJSON()),
        version,
      });
    }
    const visitors: SpeedVisitorsRow[] = [];
    for (const v of withSketches ? [...this.dirtyVisitors, ...this.pageSketches] : this.dirtyVisitors) {
      if (!v.dirty) continue;
      v.dirty = false;
      entries.push(v);
      visitors.push({ partition: v instanceof LaneSketch ? lane : own, site: v.site, pageId: v.pageId, grain: v.grain, bucket: v.minute * MINUTE_MS, hll: v.hll.toBase64(), version });
    }
    this.dirtyCounters = [];
    this.dirtyOverflows = [];
    this.dirtyVisitors = [];
    if (withSketches) this.pageSketches = [];
    else this.pageSketches = this.pageSketches.filter((v) => v.dirty);
    // Every page sketch change below nextOffset is written once none is left dirty.
    const replayFrom = this.pageSketches.length === 0 ? this.nextOffset : this.replayFrom;
    const sessions = this.sessions?.snapshot() ?? null;
    const rows: SpeedRows = { pageMinutes, overflow, visitors };
    if (sessions !== null) {
      rows.sessions = [
        ...sessions.sums.map((r) => this.sessionRow(r, own, version)),
        ...sessions.laneSums.map((r) => this.sessionRow(r, lane, version)),
      ];
      rows.openSessions = [
        ...sessions.openSessions.map(({ lastEventHash, ...session }) => ({ ...session, partition: own, lastEvent: lastEventHash ?? '', removed: false, version })),
        // A closed session's row says so; its last event time keeps it in a day that retention drops.
        ...sessions.closedSessions.map((k) => ({
          partition: own,
          site: k.site,
          visitorId: k.visitorId,
          start: 0,
          end: this.settings.now(),
          pageviews: 0,
          entryPage: '',
          exitPage: '',
          lastEvent: '',
          removed: true,
          version,
        })),
      ];
    }
    return { rows, sessions, nextOffset: this.nextOffset, replayFrom, maxEventTime: this.maxEventTime, version, entries };
  }

  private sessionRow(r: SessionSumRow, partition: number, version: number): SpeedSessionRow {
    return {
      partition,
      site: sessionRowSite(r.site, r.kind),
      pageId: r.pageId,
      bucket: r.bucket,
      visits: r.visits,
      bounces: r.bounces,
      durationMs: r.durationMs,
      pageviews: r.pageviews,
      version,
    };
  }

  /** After a failed write: the snapshot's rows must be written again. */
  restoreDirty(snapshot: PartitionSnapshot): void {
    if (snapshot.sessions !== null) this.sessions?.restoreDirty(snapshot.sessions);
    for (const entry of snapshot.entries) {
      if (entry.dirty) continue;
      entry.dirty = true;
      if (entry instanceof MinuteCounter) this.dirtyCounters.push(entry);
      else if (entry instanceof VisitorsSketch) this.dirtyVisitors.push(entry);
      else this.dirtyOverflows.push(entry);
    }
  }

  /**
   * After a durable checkpoint: remember it, move the resident horizon with the wall clock and
   * evict what is behind it, written (clean) and idle. A dirty entry stays until it is written.
   */
  checkpointed(snapshot: PartitionSnapshot): void {
    this.checkpointVersion = snapshot.version;
    this.replayFrom = Math.max(this.replayFrom, snapshot.replayFrom);
    this.checkpointedOffset = snapshot.nextOffset;
    const now = this.settings.now();
    this.residentFrom = Math.max(this.residentFrom, residentFromAt(now, this.settings.hotWindowMs));
    // Lane entries merged and written empty are done with; the others stay until merged.
    for (const [id, entry] of this.lane) {
      if (!entry.merged || entry.dirty) continue;
      this.lane.delete(id);
      this.budget.used -= laneEntryBytes(id, entry);
    }
    if (this.budget.full || now - this.lastEvictionPass >= EVICTION_PASS_MS) {
      this.lastEvictionPass = now;
      this.evict(this.budget.full);
    }
    if (snapshot.sessions !== null) this.sessions?.checkpointed(snapshot.sessions);
  }

  private lastEvictionPass = Number.NEGATIVE_INFINITY;

  /**
   * One eviction pass: drops clean entries of buckets wholly before `residentFrom` that were not
   * updated since the previous pass (all of them when `pressed` by the budget). Keeping an entry
   * is always safe — a resident entry is the truth for its key — so idle ones go and busy ones
   * (a backlog being caught up) stay.
   */
  private evict(pressed: boolean): void {
    const from = this.residentFrom;
    const budget = this.budget;
    const idle = (e: { dirty: boolean; touched: boolean }): boolean => {
      if (e.dirty) return false;
      if (pressed || !e.touched) return true;
      e.touched = false;
      return false;
    };
    for (const [siteId, site] of this.sites) {
      for (const [pageId, page] of site.pages) {
        const counters = removeWhere(page.minutes, (c) => c.minute * MINUTE_MS < from && idle(c)).length;
        this.countKeys(site, -counters);
        budget.used -= counters * MEMORY_BYTES.counter;
        this.evictSketches(page.hours, from - HOUR_MS, idle);
        if (page.minutes.length === 0 && page.hours.length === 0) {
          site.pages.delete(pageId);
          budget.used -= MEMORY_BYTES.page + MEMORY_BYTES.string(pageId);
        }
      }
      this.evictSketches(site.minuteVisitors, from - INTERVAL_MS.minute, idle);
      this.evictSketches(site.hourVisitors, from - HOUR_MS, idle);
      for (const o of removeWhere(site.overflows, (o) => o.minute * MINUTE_MS < from && idle(o))) {
        budget.used -= MEMORY_BYTES.overflowEntry + o.bytes + o.topPages.size * MEMORY_BYTES.counter;
      }
      if (site.pages.size === 0 && site.minuteVisitors.length === 0 && site.hourVisitors.length === 0 && site.overflows.length === 0) {
        this.sites.delete(siteId);
        budget.used -= MEMORY_BYTES.site + MEMORY_BYTES.string(siteId) + dimensionNamesBytes(site.dimensionSites);
      }
    }
  }

  /** Drops idle sketches of buckets starting at or before `lastClosed`. */
  private evictSketches(list: VisitorsSketch[], lastClosed: number, idle: (v: VisitorsSketch) => boolean): void {
    for (const v of removeWhere(list, (v) => v.minute * MINUTE_MS <= lastClosed && idle(v))) this.budget.used -= MEMORY_BYTES.visitorsEntry + v.bytes;
  }

  private countKeys(site: SiteEntry, n: number): void {
    if (site.dimension) this.dimensionKeys += n;
    else this.exactKeys += n;
  }

  /** Exact counters held in memory (pages and dimension values). */
  get size(): number {
    return this.exactKeys + this.dimensionKeys;
  }

  /** Gives this partition's bytes back to the budget (the partition is dropped). */
  release(): void {
    this.sessions?.release();
    this.budget.used -= this.memoryBytes;
    this.sites.clear();
    this.lane.clear();
  }

  /** Estimated bytes of state held (see MEMORY_BYTES). */
  get memoryBytes(): number {
    let bytes = this.sessions?.memoryBytes ?? 0;
    for (const [siteId, site] of this.sites) {
      bytes += MEMORY_BYTES.site + MEMORY_BYTES.string(siteId) + dimensionNamesBytes(site.dimensionSites);
      for (const [pageId, page] of site.pages) {
        bytes += MEMORY_BYTES.page + MEMORY_BYTES.string(pageId) + page.minutes.length * MEMORY_BYTES.counter;
        for (const v of page.hours) bytes += MEMORY_BYTES.visitorsEntry + v.bytes;
      }
      for (const v of site.minuteVisitors) bytes += MEMORY_BYTES.visitorsEntry + v.bytes;
      for (const v of site.hourVisitors) bytes += MEMORY_BYTES.visitorsEntry + v.bytes;
      for (const o of site.overflows) bytes += MEMORY_BYTES.overflowEntry + o.bytes + o.topPages.size * MEMORY_BYTES.counter;
    }
    for (const [id, entry] of this.lane) bytes += laneEntryBytes(id, entry);
    return bytes;
  }
}
