/**
 * The view store: where the speed layer's views, the batch layer's raw copy and
 * versioned views, and the batch run records live. Implemented by ClickHouseViewStore
 * (production) and DuckDbViewStore (embedded default); one contract suite
 * (test/contract/view-store.contract.ts) runs against both.
 *
 * All times are epoch milliseconds (UTC). Bucket starts follow shared/core/time-buckets.ts.
 */
import type { Session, SessionTotals } from '../../core/sessions.ts';
import type { SqlDialect } from '../sql-escape.ts';
import type { PageViewSchemaVersion, VisitFields } from '../../core/page-view.ts';
import type { PropertyDefinition, PropertyFilter } from '../../core/query/properties.ts';

/** Counts of one bucket. `bucket` is the bucket's start, epoch ms. */
export interface BucketViews {
  bucket: number;
  views: number;
}

export interface ViewQuery {
  site: string;
  /** Absent: all pages of the site. */
  pageId?: string;
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
}

/**
 * Visitors of a site, of one page, or (with `pagesMatching`, instead of `pageId`) the union over
 * the pages (or dimension values, shared/core/dimensions.ts) whose id passes every filter.
 */
export interface BatchVisitorsQuery extends ViewQuery {
  pagesMatching?: readonly PropertyFilter[];
}

/** One speed-layer row: the state of a (partition, site, page, minute) counter at `version`. */
export interface SpeedMinuteRow {
  partition: number;
  site: string;
  pageId: string;
  /** Minute bucket start. */
  bucket: number;
  views: number;
  /** Monotonic per partition; a higher version replaces a lower one. */
  version: number;
}

/** Page views beyond the exact-key budget of one (partition, site, minute): a total, a Count-Min sketch by page and the top pages. */
export interface SpeedOverflowRow {
  partition: number;
  site: string;
  bucket: number;
  /** Events counted in the sketch (exact). */
  total: number;
  cmsWidth: number;
  cmsDepth: number;
  /** Cells, row-major (depth rows of width cells). */
  cms: number[];
  /** JSON of the Space-Saving summary (SpaceSaving.toJSON: {version, capacity, totalCount, items: [[pageId, count, error], ...]}). */
  topPages: string;
  version: number;
}

export type VisitorsGrain = 'minute' | 'hour';

/** A HyperLogLog of the visitors of one (partition, site, page, bucket); pageId '' = the whole site. */
export interface SpeedVisitorsRow {
  partition: number;
  site: string;
  pageId: string;
  grain: VisitorsGrain;
  bucket: number;
  /** Base64 of the sketch's serialization (shared/core/sketches). */
  hll: string;
  version: number;
}

/**
 * Session sums (shared/core/sessions.ts) of the sessions a partition holds that start in a
 * minute: of a site (`pageId` ''), or of an entry (exit) page under `<site>|visit:entry_page`
 * (`exit_page`). The value for the key at the version, as a page's views are.
 */
export interface SpeedSessionRow extends SessionTotals {
  partition: number;
  site: string;
  pageId: string;
  bucket: number;
  version: number;
}

/** A visitor's open session as a partition holds it at a version, or (`removed`) that it holds none any more. */
export interface SpeedOpenSessionRow extends Session {
  partition: number;
  site: string;
  visitorId: string;
  /** What identifies the session's last applied event (a redelivery of it adds nothing). */
  lastEvent: string;
  removed: boolean;
  version: number;
}

/** Everything the speed layer writes for a checkpoint. */
export interface SpeedRows {
  pageMinutes: SpeedMinuteRow[];
  overflow: SpeedOverflowRow[];
  visitors: SpeedVisitorsRow[];
  /** Absent: none (a writer without sessions). */
  sessions?: SpeedSessionRow[];
  openSessions?: SpeedOpenSessionRow[];
}

/**
 * What one speed flush wrote: every partition's rows at its new version (its late lane's
 * included), and the checkpoints written after them. Handed to a serving layer in the same
 * process, which applies it when it continues the versions it holds.
 */
export interface SpeedFlush {
  rows: SpeedRows;
  checkpoints: readonly SpeedCheckpoint[];
  /** Per partition, the checkpoint version before this flush (0: none). */
  previousVersions: ReadonlyMap<number, number>;
}

/** Keys of speed rows to read back: the stored rows a late event merges into. */
export interface SpeedRowKeys {
  pageMinutes: { site: string; pageId: string; bucket: number }[];
  visitors: { site: string; pageId: string; grain: VisitorsGrain; bucket: number }[];
  /** Session sum rows (`speed_session_minute`), by their stored site. */
  sessions?: { site: string; pageId: string; bucket: number }[];
}

/**
 * The rows a partition wrote in a version range: its own and its late lane's (`speedLateLane`),
 * with versions in (after, through]. A reader that holds the latest rows of every version up to
 * `after` and applies these (latest per key) holds the latest rows up to `through`.
 */
export interface SpeedVersionRange {
  partition: number;
  /** Exclusive; 0 reads from the first version. */
  after: number;
  /** Inclusive: a checkpoint version, so every row of it is written. */
  through: number;
}

/** Speed-layer page views of a bucket; `overcountBound` > 0 when part of it is a Count-Min estimate. */
export interface SpeedBucketViews extends BucketViews {
  /** The estimate exceeds the true count by at most this (with the sketch's confidence 1 − δ). */
  overcountBound: number;
}

export interface VisitorsQuery extends ViewQuery {
  grain: VisitorsGrain;
}

/** The latest visitor sketch of every partition for one bucket (base64). */
export interface BucketVisitorSketches {
  bucket: number;
  sketches: string[];
}

/**
 * One event of the raw copy, keyed by its position in the log. The visit fields (schema v2) are
 * absent for v1 events; the tables hold an absent field as ''.
 */
export interface RawEventRow extends VisitFields {
  partition: number;
  offset: number;
  eventId: string;
  site: string;
  pageId: string;
  visitorId: string;
  /** HyperLogLog register of the visitor at the batch precision (shared/core/sketches). */
  visitorHllIndex: number;
  visitorHllRank: number;
  eventTime: number;
  referrer: string;
  userAgent: string;
  /** The event's schema version (1 when absent). */
  schemaVersion?: PageViewSchemaVersion;
}

/** Where to read raw rows from: one partition's rows from an offset on, in offset order. */
export interface RawEventsQuery {
  partition: number;
  fromOffset: number;
  limit: number;
}

/** Page views of one page over a range. */
export interface PageTotal {
  pageId: string;
  views: number;
}

/** Session sums (shared/core/sessions.ts) of the sessions that start in a bucket. */
export interface BucketSessions extends SessionTotals {
  bucket: number;
}

/** Session sums of the sessions with one entry (or exit) page. */
export interface PageSessions extends SessionTotals {
  pageId: string;
}

/** Batch views come in two grains. */
export type BatchGrain = 'hour' | 'day';

/** Exact distinct visitors of one day. */
export interface DayVisitors {
  bucket: number;
  visitors: number;
}

/** A log record the raw copy could not use. */
export interface InvalidRecordRow {
  partition: number;
  offset: number;
  reason: string;
}

/**
 * The speed layer's checkpoint of one partition: its rows at `version` (its own and its late
 * lane's, see `speedLateLane`) reflect offsets below `nextOffset`, except the visitor sketches of
 * pages, which reflect offsets below `replayFrom` at least (they are written less often).
 */
export interface SpeedCheckpoint {
  partition: number;
  nextOffset: number;
  /** ≤ nextOffset: a restart consumes from here, records below `nextOffset` for the visitors of pages only. */
  replayFrom: number;
  /** Highest event time the partition's state has seen (informational). */
  maxEventTime: number;
  version: number;
}

/** What a batch run covers: events before `cutoffTime` among offsets below `endOffsets`. */
export interface BatchCutoff {
  /** Exclusive, epoch ms, hour-aligned. */
  cutoffTime: number;
  /** Per partition, exclusive. */
  endOffsets: ReadonlyMap<number, number>;
}

export type BatchRunStatus = 'running' | 'success' | 'failed';

export interface BatchRunRecord {
  batchId: string;
  status: BatchRunStatus;
  startedAt: number;
  finishedAt: number | null;
  cutoffTime: number;
  endOffsets: Record<string, number>;
  /** Log records read by this run's raw copy. */
  rowsRead: number;
  /** Invalid records seen by this run's raw copy (excluded from views). */
  rowsInvalid: number;
  /** Raw rows inside the cutoff that were dropped as duplicate eventIds. */
  rowsDuplicate: number;
  /** Distinct events inside the cutoff (what the views count). */
  rowsCounted: number;
  error: string | null;
  /** Speed-vs-batch divergence over the period the run covered, measured after publishing. */
  divergence?: RunDivergence | null;
}

/** Per site: batch vs speed page views and visitors over the day before the run's cutoff. */
export interface RunDivergence {
  from: number;
  to: number;
  sites: Record<string, {
    batch: number;
    speed: number;
    relativeDifference: number | null;
    withinBound: boolean;
    visitors: { batch: number; speed: number; relativeDifference: number | null; withinBound: boolean } | null;
    /** Visits and bounce rate, batch against speed (absent in runs recorded before sessions). */
    sessions?: {
      batch: { visits: number; bounceRate: number };
      speed: { visits: number; bounceRate: number };
      visitsRelativeDifference: number | null;
      bounceRateDifference: number;
    } | null;
  }>;
}

/** The published fact that decides who answers: batch for buckets < cutoffTime, speed for the rest. */
export interface BatchBoundary {
  batchId: string;
  cutoffTime: number;
  endOffsets: Record<string, number>;
  publishedAt: number;
}

/**
 * Called after each pass of a batch build: `done` of the `of` passes of that kind have written
 * their rows. The deduplication passes stage events; the visitor passes, which come after the
 * version's page views are written, write its visitors and sessions.
 */
export type BuildPassListener = (pass: { kind: 'dedup' | 'visitors'; done: number; of: number }) => void;

export interface BuildStats {
  rowsCounted: number;
  rowsDuplicate: number;
}

/**
 * Reads and writes are separate interfaces: the serving layer needs only the readers
 * (ViewReader); the speed and batch layers write. A writer's own resume reads (restore a
 * partition's state, where the raw copy stopped) belong to its writer interface: nothing
 * else needs them.
 */

/** Readiness: true when the store answers a trivial query. Every reader has it. */
export interface StoreReadiness {
  ping(): Promise<boolean>;
}

/** What the speed layer has published: its views, retention and checkpoints. */
export interface SpeedViewReader extends StoreReadiness {
  /**
   * Minute buckets in [from, to), summed over partitions. Buckets with no views are absent.
   * For one page, the Count-Min estimate of its overflow events is added, with its bound;
   * for a whole site, overflow totals are exact. `grain` 'hour' lets a reader answer hour
   * buckets instead when the range is whole hours (the same totals, rolled up; the Count-Min
   * estimates are taken per minute first); the SQL stores answer minutes either way.
   */
  speedViews(query: ViewQuery, grain?: 'minute' | 'hour'): Promise<SpeedBucketViews[]>;
  /**
   * Session sums by the minute of the session start in [from, to), summed over partitions: of a
   * site (`pageId` absent), or of an entry (exit) page `pageId` under `<site>|visit:entry_page`
   * (`exit_page`). Buckets with no visits are absent.
   */
  speedSessions(query: ViewQuery): Promise<BucketSessions[]>;
  /** Session sums per entry (or exit) page over [from, to), under `<site>|visit:entry_page` (`exit_page`). */
  speedSessionPages(query: ViewQuery): Promise<PageSessions[]>;
  /** The latest visitor sketch of every (partition, bucket) in [from, to), base64; merge them for the union. */
  speedVisitorSketches(query: VisitorsQuery): Promise<string[]>;
  /**
   * The same sketches grouped by bucket, in bucket order, in one read: a series unites each
   * bucket's sketches without a query per bucket. Buckets without sketches are absent.
   */
  speedVisitorSketchesByBucket(query: VisitorsQuery): Promise<BucketVisitorSketches[]>;
  /**
   * The latest row per key among the rows of each range (a partition's own rows and its late
   * lane's, under their own `partition`), for a reader that keeps the speed views in memory
   * (the serving layer) and follows them from checkpoint to checkpoint.
   */
  speedRowsSince(ranges: readonly SpeedVersionRange[]): Promise<SpeedRows>;
  /** Exact page-view counts per page over [from, to) (minute buckets; pages beyond the key budget are in the overflow). */
  speedPageTotals(query: ViewQuery): Promise<PageTotal[]>;
  /** The latest top-pages summaries (SpaceSaving JSON) of the overflow minutes in [from, to). */
  speedTopPageSummaries(query: ViewQuery): Promise<string[]>;
  /** The earliest time speed rows are kept from (the latest dropSpeedBefore), or null. */
  speedRetainedFrom(): Promise<number | null>;
  /** The latest checkpoint of every partition that has one. */
  speedCheckpoints(): Promise<Map<number, SpeedCheckpoint>>;
}

/** What the speed layer writes, and the reads it restores its own state from. */
export interface SpeedViewWriter {
  /** Writes exact counters, overflow sketches and visitor sketches of a checkpoint version. */
  writeSpeedRows(rows: SpeedRows): Promise<void>;
  /** Records a checkpoint, after the rows of its version are written. */
  writeSpeedCheckpoint(checkpoint: SpeedCheckpoint): Promise<void>;
  /**
   * Writes one flush: every partition's rows, then their checkpoints. One transaction where the
   * engine has them (DuckDB); on ClickHouse one insert per table, the checkpoints last.
   */
  writeSpeedFlush(rows: SpeedRows, checkpoints: readonly SpeedCheckpoint[]): Promise<void>;
  /** The stored rows of these keys as of a checkpoint version (latest version ≤ maxVersion per key); absent keys have none. */
  speedRowsFor(partition: number, maxVersion: number, keys: SpeedRowKeys): Promise<Pick<SpeedRows, 'pageMinutes' | 'visitors' | 'sessions'>>;
  /**
   * Records that the speed views are held from `from` (a UTC hour start) on: deletes the speed
   * rows of the whole days before `from`'s day; rows of its hours before `from` stay stored but
   * are no longer held (readers trust speedRetainedFrom).
   */
  dropSpeedBefore(from: number): Promise<void>;
  /** A partition's rows as of a checkpoint version (latest version ≤ maxVersion per key), to restore state. */
  speedPartitionRows(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedMinuteRow[]>;
  /** All of a partition's speed rows as of a checkpoint version, for buckets at or after `fromBucket`. */
  speedPartitionState(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedRows>;
}

/** What the batch layer has published: the boundary, the run history and the versioned views. */
export interface BatchViewReader extends StoreReadiness {
  /** The latest successful run's boundary, or null when no run has succeeded. */
  latestBoundary(): Promise<BatchBoundary | null>;
  /** Run history, newest first, one entry per run in its latest state. */
  batchRuns(limit: number): Promise<BatchRunRecord[]>;
  /**
   * Page views of a batch version in [from, to), at hour or day grain: of one page, or of the
   * whole site (site totals) when `pageId` is absent.
   */
  batchViews(batchId: string, query: ViewQuery, grain?: BatchGrain): Promise<BucketViews[]>;
  /** Page views per page over [from, to) (hour buckets) of a batch version. */
  batchPageTotals(batchId: string, query: ViewQuery): Promise<PageTotal[]>;
  /**
   * Session sums of a batch version by the hour or day of the session start in [from, to): of
   * the site (`pageId` absent), or, under the site `<site>|visit:entry_page` (or `exit_page`), of
   * the sessions with the entry (exit) page `pageId`.
   */
  batchSessions(batchId: string, query: ViewQuery, grain?: BatchGrain): Promise<BucketSessions[]>;
  /** Session sums per entry (or exit) page over [from, to) (hour buckets), under `<site>|visit:entry_page` (`exit_page`). */
  batchSessionPages(batchId: string, query: ViewQuery): Promise<PageSessions[]>;
  /** Sites with batch views in [from, to) of a batch version. */
  batchSites(batchId: string, from: number, to: number): Promise<string[]>;
  /** Exact distinct visitors over the days in [from, to) (day-aligned), of a page or the site. */
  batchVisitors(batchId: string, query: BatchVisitorsQuery): Promise<number>;
  /** Exact distinct visitors of each day in [from, to). */
  batchVisitorsByDay(batchId: string, query: ViewQuery): Promise<DayVisitors[]>;
  /** HyperLogLog registers (index → max rank) of the visitors over the days in [from, to), for a union with speed sketches. */
  batchVisitorRegisters(batchId: string, query: BatchVisitorsQuery): Promise<Map<number, number>>;
  /**
   * Exact page views and distinct visitors of the events a batch version counted (its cutoff's raw
   * rows, deduplicated by eventId) of a site in [from, to) that pass `filters`: in total, per value
   * of a property, or per hour or day. Read from the raw copy, for filters the views cannot answer.
   */
  batchEventCounts(boundary: BatchBoundary, query: EventCountsQuery): Promise<EventCount[]>;
}

export interface EventCountsQuery {
  site: string;
  from: number;
  to: number;
  filters: readonly PropertyFilter[];
  groupBy?: { property: PropertyDefinition } | { interval: 'hour' | 'day' };
}

/** One group of {@link EventCountsQuery}: `value` ('' unless grouped by a property), `bucket` (0 unless grouped by time). */
export interface EventCount {
  value: string;
  bucket: number;
  views: number;
  visitors: number;
}

/** What the batch layer writes: the raw copy, the views of a run, the run ledger, clean-up. */
export interface BatchViewWriter {
  /** Next offset to copy per partition (one past the highest copied offset, valid or invalid). */
  rawCopyEndOffsets(): Promise<Map<number, number>>;
  /** Appends raw rows. Idempotent by (partition, offset): a row copied twice counts once. */
  appendRawEvents(rows: readonly RawEventRow[]): Promise<void>;
  /** Records log records that are not valid events, so the raw copy moves past them. */
  appendInvalidRecords(rows: readonly InvalidRecordRow[]): Promise<void>;
  /**
   * Computes the views of `batchId` from the raw copy, within the cutoff. Not visible until
   * published. `onPass`, when given, is called after each pass of the build (its kind, the passes
   * of that kind done and in all): the build's progress, for reports and fault tests.
   */
  buildBatchViews(batchId: string, cutoff: BatchCutoff, onPass?: BuildPassListener): Promise<BuildStats>;
  /** Appends a run record; a `success` record publishes the run's views and boundary. */
  recordBatchRun(run: BatchRunRecord): Promise<void>;
  /**
   * Deletes the views of every version not in `keep` (after a publish). Callers keep the
   * previously published version too: a reader that read the old boundary just before the
   * publish still finds its rows.
   */
  dropBatchVersionsExcept(keep: readonly string[]): Promise<void>;
  /** Empties the raw copy (for a full rebuild from the log's first offset). */
  truncateRawCopy(): Promise<void>;
  /** Rows of the raw copy (for inspection and tests), in offset order; each (partition, offset) once. */
  readRawEvents(query: RawEventsQuery): Promise<RawEventRow[]>;
}

/**
 * The collector's daily salts for cookieless visitor ids (collector/visitor-salts.ts), shared
 * by every collector process through the store.
 */
export interface VisitorSaltStore {
  /**
   * The salt of a UTC day (days since the epoch): `candidate` is stored as one of the day's
   * salts, and the least stored salt of the day is returned, so every process that asks
   * settles on the same one.
   */
  visitorSalt(day: number, candidate: string): Promise<string>;
  /** Destroys the salts of the days before `day`. */
  dropVisitorSaltsBefore(day: number): Promise<void>;
}

/** Everything the serving layer reads. */
export type ViewReader = SpeedViewReader & BatchViewReader;

export interface SpeedViewStore extends SpeedViewReader, SpeedViewWriter {}

export interface BatchViewStore extends BatchViewReader, BatchViewWriter {}

export interface ViewStore extends SpeedViewStore, BatchViewStore, VisitorSaltStore {
  readonly kind: 'clickhouse' | 'duckdb';
  /** Raw rows per deduplication pass of a batch build; fewer rows per pass use less engine memory. */
  batchEventsPerPass: number;
  readonly dialect: SqlDialect;
  /** Creates the database (if needed) and applies pending migrations from sql/<kind>/ (those up to `throughVersion` only, when given). */
  migrate(throughVersion?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The late lane of a partition: the `log_partition` under which the speed layer writes what late
 * events added to keys whose stored rows it has not read yet (views to add, visitors to unite),
 * until it merges them into the partition's own rows. Readers add it like any other partition;
 * the partition's restore and row reads leave it out.
 */
export function speedLateLane(partition: number): number {
  return -1 - partition;
}

/** The partition a log partition belongs to: itself, or the partition whose late lane it is. */
export function speedLaneOwner(logPartition: number): number {
  return logPartition < 0 ? speedLateLane(logPartition) : logPartition;
}
