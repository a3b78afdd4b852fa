/**
 * The queries both SQL engines share. ClickHouseViewStore and DuckDbViewStore supply the
 * primitives (run a statement, read rows, bulk insert) and the few dialect differences
 * (function names, upsert, latest-row-per-key); the metric logic is written once here.
 */
import { PlatformError } from '../../core/errors.ts';
import { hash64 } from '../../core/sketches/hash.ts';
import { CountMinSketch } from '../../core/sketches/count-min.ts';
import { bucketSql, bucketStart, isBucketEdge } from '../../core/time-buckets.ts';
import { SqlFragment, joinSql, type SqlDialect } from '../sql-escape.ts';
import { loadMigrations } from './migrations.ts';
import type {
  BatchBoundary,
  BatchCutoff,
  BatchRunRecord,
  BatchRunStatus,
  BucketViews,
  BatchGrain,
  BuildStats,
  DayVisitors,
  InvalidRecordRow,
  PageTotal,
  RawEventRow,
  RunDivergence,
  SpeedBucketViews,
  SpeedCheckpoint,
  SpeedRows,
  VisitorsGrain,
  VisitorsQuery,
  SpeedMinuteRow,
  ViewQuery,
  ViewStore,
} from './view-store.ts';

export type Row = Record<string, unknown>;

/** Position of a record in the log as one sortable integer: partition * 2^40 + offset. */
export const POSITION_PARTITION_FACTOR = 1_099_511_627_776;

/** Function names that differ between the engines. */
/** Raw rows deduplicated per pass of the batch build (bounds the engine's memory). */
export const EVENTS_PER_PASS = 1_000_000;

export interface DialectFunctions {
  /** A deterministic hash of `expr` reduced to [0, n). */
  hashBucket(expr: string, n: number): string;
  argMax: string;
  argMin: string;
  /** Any value of a group (all equal where it is used). */
  anyValue: string;
  countDistinct(expr: string): string;
}

/** The speed layer's versioned tables and the columns that identify a row's key (besides the partition). */
export const SPEED_TABLE_KEYS: Readonly<Record<string, readonly string[]>> = {
  speed_page_minute: ['site', 'page_id', 'bucket'],
  speed_overflow_minute: ['site', 'bucket'],
  speed_visitors: ['site', 'page_id', 'grain', 'bucket'],
};
export const SPEED_TABLES = Object.keys(SPEED_TABLE_KEYS);

/** Tables holding one version of the batch views per run (batch_id). */
export const BATCH_VIEW_TABLES = ['batch_page_hour', 'batch_page_day', 'batch_site_hour', 'batch_site_day', 'batch_visitors_day'] as const;

export abstract class SqlViewStore implements ViewStore {
  abstract readonly kind: 'clickhouse' | 'duckdb';
  abstract readonly dialect: SqlDialect;
  protected abstract readonly fn: DialectFunctions;
  /** Raw rows per deduplication pass of a batch build (memory vs number of passes). */
  batchEventsPerPass = EVENTS_PER_PASS;

  /** Runs a statement that returns no rows. */
  protected abstract exec(statement: SqlFragment | string): Promise<void>;
  /** Runs a query and returns its rows as plain objects. */
  protected abstract rows(query: SqlFragment): Promise<Row[]>;
  /** Bulk-inserts rows (column → value objects) into a table. */
  protected abstract insert(table: string, rows: readonly Row[]): Promise<void>;
  /** Creates the database itself, when the engine has one. */
  protected abstract ensureDatabase(): Promise<void>;
  abstract ping(): Promise<boolean>;
  abstract close(): Promise<void>;

  async migrate(): Promise<void> {
    await this.ensureDatabase();
    await this.exec(this.migrationsTableDdl());
    const appliedRows = await this.rows(this.dialect.sql`SELECT version FROM schema_migrations`);
    const applied = new Set(appliedRows.map((r) => Number(r['version'])));
    for (const migration of await loadMigrations(this.kind)) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.statements) await this.exec(statement);
      await this.insert('schema_migrations', [
        { version: migration.version, name: migration.name, applied_at: Date.now() },
      ]);
    }
  }

  protected abstract migrationsTableDdl(): string;

  protected pageFilter(query: ViewQuery): SqlFragment {
    const { sql } = this.dialect;
    return query.pageId === undefined ? sql`1 = 1` : sql`page_id = ${query.pageId}`;
  }

  async speedViews(query: ViewQuery): Promise<SpeedBucketViews[]> {
    const { sql } = this.dialect;
    const argMax = this.raw(this.fn.argMax);
    const range = sql`site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}`;
    // The exact counters and the sketch shapes of the overflow are independent reads.
    const [exact, shapes] = await Promise.all([
      this.rows(sql`
        SELECT bucket, sum(v) AS views FROM (
          SELECT log_partition, page_id, bucket, ${argMax}(views, version) AS v
          FROM speed_page_minute
          WHERE ${range} AND ${this.pageFilter(query)}
          GROUP BY log_partition, page_id, bucket
        ) AS latest
        GROUP BY bucket ORDER BY bucket`),
      query.pageId === undefined
        ? Promise.resolve([])
        : this.rows(sql`SELECT DISTINCT cms_width, cms_depth FROM speed_overflow_minute WHERE ${range}`),
    ]);
    const out = new Map<number, SpeedBucketViews>();
    for (const row of exact) {
      const bucket = Number(row['bucket']);
      out.set(bucket, { bucket, views: Number(row['views']), overcountBound: 0 });
    }
    const add = (bucket: number, views: number, bound: number): void => {
      const seen = out.get(bucket) ?? { bucket, views: 0, overcountBound: 0 };
      seen.views += views;
      seen.overcountBound += bound;
      out.set(bucket, seen);
    };
    if (query.pageId === undefined) {
      // A whole site: the overflow total is the exact count of the events beyond the key budget.
      const overflow = await this.rows(sql`
        SELECT bucket, sum(t) AS total FROM (
          SELECT log_partition, bucket, ${argMax}(total, version) AS t
          FROM speed_overflow_minute WHERE ${range}
          GROUP BY log_partition, bucket
        ) AS latest GROUP BY bucket`);
      for (const row of overflow) add(Number(row['bucket']), Number(row['total']), 0);
    } else {
      // One page: for each sketch shape in the range, merge the partitions' sketches cell by
      // cell in the engine and take the minimum over the page's cells (one per row).
      const pageHash = hash64(query.pageId);
      for (const shape of shapes) {
        const width = Number(shape['cms_width']);
        const depth = Number(shape['cms_depth']);
        const cells = CountMinSketch.fromCells(width, depth, new Float64Array(width * depth)).cellIndexes(pageHash.hi, pageHash.lo);
        const sums = cells.map((cell, i) => sql`sum(c[${cell + 1}]) AS ${this.raw(`c${i}`)}`);
        const overflow = await this.rows(sql`
          SELECT bucket, sum(t) AS total, ${joinSql(sums, ', ')} FROM (
            SELECT log_partition, bucket, ${argMax}(total, version) AS t, ${argMax}(cms, version) AS c
            FROM speed_overflow_minute
            WHERE ${range} AND cms_width = ${width} AND cms_depth = ${depth}
            GROUP BY log_partition, bucket
          ) AS latest GROUP BY bucket`);
        const epsilon = Math.E / width;
        for (const row of overflow) {
          const estimate = Math.min(...cells.map((_, i) => Number(row[`c${i}`])));
          add(Number(row['bucket']), estimate, Math.ceil(epsilon * Number(row['total'])));
        }
      }
    }
    return [...out.values()].filter((b) => b.views > 0 || b.overcountBound > 0).sort((a, b) => a.bucket - b.bucket);
  }

  async speedPageTotals(query: ViewQuery): Promise<PageTotal[]> {
    const { sql } = this.dialect;
    const rows = await this.rows(sql`
      SELECT page_id, sum(v) AS views FROM (
        SELECT log_partition, page_id, bucket, ${this.raw(this.fn.argMax)}(views, version) AS v
        FROM speed_page_minute
        WHERE site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}
        GROUP BY log_partition, page_id, bucket
      ) AS latest GROUP BY page_id`);
    return rows.map(toPageTotal);
  }

  async speedTopPageSummaries(query: ViewQuery): Promise<string[]> {
    const rows = await this.rows(this.dialect.sql`
      SELECT ${this.raw(this.fn.argMax)}(top_pages, version) AS top FROM speed_overflow_minute
      WHERE site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY log_partition, bucket`);
    return rows.map((r) => String(r['top']));
  }

  async speedVisitorSketches(query: VisitorsQuery): Promise<string[]> {
    const { sql } = this.dialect;
    const argMax = this.raw(this.fn.argMax);
    const rows = await this.rows(sql`
      SELECT ${argMax}(hll, version) AS h FROM speed_visitors
      WHERE site = ${query.site} AND grain = ${query.grain} AND page_id = ${query.pageId ?? ''}
        AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY log_partition, bucket`);
    return rows.map((r) => String(r['h']));
  }

  async writeSpeedRows(rows: SpeedRows): Promise<void> {
    await this.upsertSpeedMinutes(rows.pageMinutes);
    await this.insert(
      'speed_overflow_minute',
      rows.overflow.map((r) => ({
        log_partition: r.partition,
        site: r.site,
        bucket: r.bucket,
        total: r.total,
        cms_width: r.cmsWidth,
        cms_depth: r.cmsDepth,
        cms: r.cms,
        top_pages: r.topPages,
        version: r.version,
      })),
    );
    await this.insert(
      'speed_visitors',
      rows.visitors.map((r) => ({
        log_partition: r.partition,
        site: r.site,
        page_id: r.pageId,
        grain: r.grain,
        bucket: r.bucket,
        hll: r.hll,
        version: r.version,
      })),
    );
  }

  async speedPartitionState(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedRows> {
    const { sql } = this.dialect;
    const argMax = this.raw(this.fn.argMax);
    const fromHour = bucketStart(fromBucket, 'hour');
    const [pageMinutes, overflow, visitors] = await Promise.all([
      this.speedPartitionRows(partition, maxVersion, fromBucket),
      this.rows(sql`
        SELECT site, bucket, ${argMax}(total, version) AS latest_total, ${argMax}(cms_width, version) AS latest_width,
          ${argMax}(cms_depth, version) AS latest_depth, ${argMax}(cms, version) AS latest_cms,
          ${argMax}(top_pages, version) AS latest_top, max(version) AS latest_version
        FROM speed_overflow_minute
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND bucket >= ${fromBucket}
        GROUP BY site, bucket`),
      this.rows(sql`
        SELECT site, page_id, grain, bucket, ${argMax}(hll, version) AS latest_hll, max(version) AS latest_version
        FROM speed_visitors
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND bucket >= ${fromHour}
        GROUP BY site, page_id, grain, bucket`),
    ]);
    return {
      pageMinutes,
      overflow: overflow.map((r) => ({
        partition,
        site: String(r['site']),
        bucket: Number(r['bucket']),
        total: Number(r['latest_total']),
        cmsWidth: Number(r['latest_width']),
        cmsDepth: Number(r['latest_depth']),
        cms: (r['latest_cms'] as unknown[]).map(Number),
        topPages: String(r['latest_top']),
        version: Number(r['latest_version']),
      })),
      visitors: visitors.map((r) => ({
        partition,
        site: String(r['site']),
        pageId: String(r['page_id']),
        grain: String(r['grain']) as VisitorsGrain,
        bucket: Number(r['bucket']),
        hll: String(r['latest_hll']),
        version: Number(r['latest_version']),
      })),
    };
  }

  /** Deletes the speed tables' rows of buckets before a UTC day start (engine-specific). */
  protected abstract deleteSpeedBefore(dayStart: number): Promise<void>;

  async dropSpeedBefore(dayStart: number): Promise<void> {
    if (!isBucketEdge(dayStart, 'day')) {
      throw new PlatformError('PV_STORE_QUERY_FAILED', `dropSpeedBefore needs a UTC day start, got ${new Date(dayStart).toISOString()}`);
    }
    await this.deleteSpeedBefore(dayStart);
    await this.insert('speed_retention', [{ dropped_before: dayStart, recorded_at: Date.now() }]);
  }

  async speedRetainedFrom(): Promise<number | null> {
    const rows = await this.rows(this.dialect.sql`SELECT count(*) AS n, max(dropped_before) AS d FROM speed_retention`);
    const row = rows[0];
    return row === undefined || Number(row['n']) === 0 ? null : Number(row['d']);
  }

  /** Rows are appended; readers take the highest version per key (ReplacingMergeTree-style). */
  async upsertSpeedMinutes(rows: readonly SpeedMinuteRow[]): Promise<void> {
    await this.insert(
      'speed_page_minute',
      rows.map((r) => ({
        log_partition: r.partition,
        site: r.site,
        page_id: r.pageId,
        bucket: r.bucket,
        views: r.views,
        version: r.version,
      })),
    );
  }

  async writeSpeedCheckpoint(checkpoint: SpeedCheckpoint): Promise<void> {
    await this.insert('speed_checkpoints', [
      {
        log_partition: checkpoint.partition,
        next_offset: checkpoint.nextOffset,
        max_event_time: checkpoint.maxEventTime,
        version: checkpoint.version,
        written_at: Date.now(),
      },
    ]);
  }

  async speedCheckpoints(): Promise<Map<number, SpeedCheckpoint>> {
    const argMax = this.raw(this.fn.argMax);
    const rows = await this.rows(this.dialect.sql`
      SELECT log_partition, ${argMax}(next_offset, version) AS latest_offset,
        ${argMax}(max_event_time, version) AS latest_event_time, max(version) AS latest_version
      FROM speed_checkpoints GROUP BY log_partition`);
    return new Map(
      rows.map((r) => {
        const partition = Number(r['log_partition']);
        return [partition, {
            partition,
            nextOffset: Number(r['latest_offset']),
            maxEventTime: Number(r['latest_event_time']),
            version: Number(r['latest_version']),
          }];
      }),
    );
  }

  async speedPartitionRows(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedMinuteRow[]> {
    const { sql } = this.dialect;
    const argMax = this.raw(this.fn.argMax);
    const rows = await this.rows(sql`
      SELECT site, page_id, bucket, ${argMax}(views, version) AS latest_views, max(version) AS latest_version
      FROM speed_page_minute
      WHERE log_partition = ${partition} AND version <= ${maxVersion} AND bucket >= ${fromBucket}
      GROUP BY site, page_id, bucket`);
    return rows.map((r) => ({
      partition,
      site: String(r['site']),
      pageId: String(r['page_id']),
      bucket: Number(r['bucket']),
      views: Number(r['latest_views']),
      version: Number(r['latest_version']),
    }));
  }

  async rawCopyEndOffsets(): Promise<Map<number, number>> {
    const rows = await this.rows(this.dialect.sql`
      SELECT log_partition, max(last) AS last FROM (
        SELECT log_partition, max(log_offset) AS last FROM raw_events GROUP BY log_partition
        UNION ALL
        SELECT log_partition, max(log_offset) AS last FROM raw_invalid GROUP BY log_partition
      ) AS copied GROUP BY log_partition`);
    return new Map(rows.map((r) => [Number(r['log_partition']), Number(r['last']) + 1]));
  }

  async appendInvalidRecords(rows: readonly InvalidRecordRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.insert(
      'raw_invalid',
      rows.map((r) => ({ log_partition: r.partition, log_offset: r.offset, reason: r.reason })),
    );
  }

  async appendRawEvents(rows: readonly RawEventRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.insert(
      'raw_events',
      rows.map((r) => ({
        log_partition: r.partition,
        log_offset: r.offset,
        event_id: r.eventId,
        site: r.site,
        page_id: r.pageId,
        visitor_id: r.visitorId,
        visitor_hll_index: r.visitorHllIndex,
        visitor_hll_rank: r.visitorHllRank,
        event_time: r.eventTime,
        referrer: r.referrer,
        user_agent: r.userAgent,
      })),
    );
  }

  /** Raw rows inside the cutoff's offsets, deduplicated by eventId (first position wins). */
  protected offsetFilter(cutoff: BatchCutoff): SqlFragment {
    const { sql } = this.dialect;
    const inOffsets = [...cutoff.endOffsets].map(
      ([partition, end]) => sql`(log_partition = ${partition} AND log_offset < ${end})`,
    );
    return inOffsets.length === 0 ? sql`1 = 0` : joinSql(inOffsets, ' OR ');
  }

  /**
   * Raw rows inside the cutoff's offsets, deduplicated by eventId (first position wins); with
   * `pass`, only the event ids that hash into that pass (all copies of an event land in one).
   */
  protected dedupedEventsSql(cutoff: BatchCutoff, pass: { index: number; of: number } = { index: 0, of: 1 }): SqlFragment {
    const { sql } = this.dialect;
    const offsetFilter =
      pass.of === 1 ? this.offsetFilter(cutoff) : sql`(${this.offsetFilter(cutoff)}) AND ${this.raw(this.fn.hashBucket('event_id', pass.of))} = ${pass.index}`;
    const argMin = this.raw(this.fn.argMin);
    const positions = this.raw(this.fn.countDistinct('pos'));
    return sql`
      SELECT event_id,
        ${argMin}(site, pos) AS site,
        ${argMin}(page_id, pos) AS page_id,
        ${argMin}(visitor_id, pos) AS visitor_id,
        ${argMin}(visitor_hll_index, pos) AS hll_index,
        ${argMin}(visitor_hll_rank, pos) AS hll_rank,
        ${argMin}(event_time, pos) AS event_time,
        ${positions} AS copies
      FROM (
        SELECT event_id, site, page_id, visitor_id, visitor_hll_index, visitor_hll_rank, event_time,
          log_partition * ${POSITION_PARTITION_FACTOR} + log_offset AS pos
        FROM raw_events WHERE ${offsetFilter}
      ) AS in_cutoff
      GROUP BY event_id`;
  }

  /**
   * Builds the version's views. Deduplicating by eventId needs every distinct event id of the
   * log in one hash table; to keep the engine's memory bounded, the work is split into passes
   * over disjoint sets of event ids (by a hash of the id) of at most EVENTS_PER_PASS raw rows
   * each. Each pass adds its own rows; readers and the roll-ups sum them.
   */
  async buildBatchViews(batchId: string, cutoff: BatchCutoff): Promise<BuildStats> {
    const { sql } = this.dialect;
    const hour = this.raw(bucketSql(this.kind, 'event_time', 'hour'));
    const day = this.raw(bucketSql(this.kind, 'event_time', 'day'));
    const anyValue = this.raw(this.fn.anyValue);
    const sizeRows = await this.rows(sql`SELECT count(*) AS n FROM raw_events WHERE ${this.offsetFilter(cutoff)}`);
    const passes = Math.max(1, Math.ceil(Number(sizeRows[0]?.['n'] ?? 0) / this.batchEventsPerPass));
    let counted = 0;
    let positions = 0;
    for (let index = 0; index < passes; index++) {
      const inCutoff = sql`(${this.dedupedEventsSql(cutoff, { index, of: passes })}) AS deduped WHERE event_time < ${cutoff.cutoffTime}`;
      await this.exec(sql`
        INSERT INTO batch_page_hour (batch_id, site, page_id, bucket, views)
        SELECT ${batchId}, site, page_id, ${hour} AS b, count(*) FROM ${inCutoff} GROUP BY site, page_id, b`);
      await this.exec(sql`
        INSERT INTO batch_visitors_day (batch_id, site, page_id, bucket, visitor_id, hll_index, hll_rank)
        SELECT ${batchId}, site, page_id, ${day} AS b, visitor_id, ${anyValue}(hll_index), ${anyValue}(hll_rank)
        FROM ${inCutoff} GROUP BY site, page_id, b, visitor_id`);
      const stats = await this.rows(sql`SELECT count(*) AS counted, sum(copies) AS positions FROM ${inCutoff}`);
      counted += Number(stats[0]?.['counted'] ?? 0);
      positions += Number(stats[0]?.['positions'] ?? 0);
    }
    // Coarser views are rolled up from the finest one, not recomputed from the raw copy.
    const dayOfBucket = this.raw(bucketSql(this.kind, 'bucket', 'day'));
    await this.exec(sql`
      INSERT INTO batch_page_day (batch_id, site, page_id, bucket, views)
      SELECT batch_id, site, page_id, ${dayOfBucket} AS b, sum(views) FROM batch_page_hour
      WHERE batch_id = ${batchId} GROUP BY batch_id, site, page_id, b`);
    await this.exec(sql`
      INSERT INTO batch_site_hour (batch_id, site, bucket, views)
      SELECT batch_id, site, bucket, sum(views) FROM batch_page_hour WHERE batch_id = ${batchId} GROUP BY batch_id, site, bucket`);
    await this.exec(sql`
      INSERT INTO batch_site_day (batch_id, site, bucket, views)
      SELECT batch_id, site, ${dayOfBucket} AS b, sum(views) FROM batch_site_hour WHERE batch_id = ${batchId} GROUP BY batch_id, site, b`);
    await this.exec(sql`
      INSERT INTO batch_visitors_day (batch_id, site, page_id, bucket, visitor_id, hll_index, hll_rank)
      SELECT batch_id, site, '', bucket, visitor_id, ${anyValue}(hll_index), ${anyValue}(hll_rank)
      FROM batch_visitors_day WHERE batch_id = ${batchId} AND page_id <> ''
      GROUP BY batch_id, site, bucket, visitor_id`);
    return { rowsCounted: counted, rowsDuplicate: positions - counted };
  }

  async recordBatchRun(run: BatchRunRecord): Promise<void> {
    await this.insert('batch_runs', [
      {
        batch_id: run.batchId,
        status: run.status,
        started_at: run.startedAt,
        finished_at: run.finishedAt ?? 0,
        cutoff_time: run.cutoffTime,
        end_offsets: JSON.stringify(run.endOffsets),
        rows_read: run.rowsRead,
        rows_invalid: run.rowsInvalid,
        rows_duplicate: run.rowsDuplicate,
        rows_counted: run.rowsCounted,
        error: run.error ?? '',
        recorded_at: Date.now(),
        divergence: run.divergence == null ? '' : JSON.stringify(run.divergence),
      },
    ]);
  }

  async latestBoundary(): Promise<BatchBoundary | null> {
    const rows = await this.rows(this.dialect.sql`
      SELECT batch_id, cutoff_time, end_offsets, finished_at FROM batch_runs
      WHERE status = 'success'
      ORDER BY finished_at DESC, batch_id DESC LIMIT 1`);
    const row = rows[0];
    if (row === undefined) return null;
    return {
      batchId: String(row['batch_id']),
      cutoffTime: Number(row['cutoff_time']),
      endOffsets: JSON.parse(String(row['end_offsets'])) as Record<string, number>,
      publishedAt: Number(row['finished_at']),
    };
  }

  async batchRuns(limit: number): Promise<BatchRunRecord[]> {
    const { sql } = this.dialect;
    const argMax = this.raw(this.fn.argMax);
    const latest = (column: string): SqlFragment => sql`${argMax}(${this.raw(column)}, recorded_at) AS ${this.raw(column)}`;
    const columns = ['status', 'finished_at', 'cutoff_time', 'end_offsets', 'rows_read', 'rows_invalid', 'rows_duplicate', 'rows_counted', 'error', 'divergence'];
    const rows = await this.rows(sql`
      SELECT batch_id, min(started_at) AS started_at, ${joinSql(columns.map(latest), ', ')}
      FROM batch_runs GROUP BY batch_id
      ORDER BY started_at DESC, batch_id DESC LIMIT ${limit}`);
    return rows.map((r) => ({
      batchId: String(r['batch_id']),
      status: String(r['status']) as BatchRunStatus,
      startedAt: Number(r['started_at']),
      finishedAt: Number(r['finished_at']) === 0 ? null : Number(r['finished_at']),
      cutoffTime: Number(r['cutoff_time']),
      endOffsets: JSON.parse(String(r['end_offsets'])) as Record<string, number>,
      rowsRead: Number(r['rows_read']),
      rowsInvalid: Number(r['rows_invalid']),
      rowsDuplicate: Number(r['rows_duplicate']),
      rowsCounted: Number(r['rows_counted']),
      error: String(r['error']) === '' ? null : String(r['error']),
      divergence: String(r['divergence']) === '' ? null : (JSON.parse(String(r['divergence'])) as RunDivergence),
    }));
  }

  async batchViews(batchId: string, query: ViewQuery, grain: BatchGrain = 'hour'): Promise<BucketViews[]> {
    const { sql } = this.dialect;
    const table = this.raw(`batch_${query.pageId === undefined ? 'site' : 'page'}_${grain}`);
    const page = query.pageId === undefined ? sql`1 = 1` : sql`page_id = ${query.pageId}`;
    const rows = await this.rows(sql`
      SELECT bucket, sum(views) AS views FROM ${table}
      WHERE batch_id = ${batchId} AND site = ${query.site} AND ${page}
        AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY bucket ORDER BY bucket`);
    return rows.map(toBucketViews);
  }

  async batchSites(batchId: string, from: number, to: number): Promise<string[]> {
    const rows = await this.rows(this.dialect.sql`
      SELECT DISTINCT site FROM batch_site_day WHERE batch_id = ${batchId} AND bucket >= ${from} AND bucket < ${to} ORDER BY site`);
    return rows.map((r) => String(r['site']));
  }

  async batchPageTotals(batchId: string, query: ViewQuery): Promise<PageTotal[]> {
    const rows = await this.rows(this.dialect.sql`
      SELECT page_id, sum(views) AS views FROM batch_page_hour
      WHERE batch_id = ${batchId} AND site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY page_id`);
    return rows.map(toPageTotal);
  }

  private visitorsFilter(batchId: string, query: ViewQuery): SqlFragment {
    return this.dialect.sql`batch_id = ${batchId} AND site = ${query.site} AND page_id = ${query.pageId ?? ''}
      AND bucket >= ${query.from} AND bucket < ${query.to}`;
  }

  async batchVisitors(batchId: string, query: ViewQuery): Promise<number> {
    const rows = await this.rows(this.dialect.sql`
      SELECT ${this.raw(this.fn.countDistinct('visitor_id'))} AS visitors
      FROM batch_visitors_day WHERE ${this.visitorsFilter(batchId, query)}`);
    return Number(rows[0]?.['visitors'] ?? 0);
  }

  async batchVisitorsByDay(batchId: string, query: ViewQuery): Promise<DayVisitors[]> {
    const rows = await this.rows(this.dialect.sql`
      SELECT bucket, ${this.raw(this.fn.countDistinct('visitor_id'))} AS visitors
      FROM batch_visitors_day WHERE ${this.visitorsFilter(batchId, query)}
      GROUP BY bucket ORDER BY bucket`);
    return rows.map((r) => ({ bucket: Number(r['bucket']), visitors: Number(r['visitors']) }));
  }

  async batchVisitorRegisters(batchId: string, query: ViewQuery): Promise<Map<number, number>> {
    const rows = await this.rows(this.dialect.sql`
      SELECT hll_index, max(hll_rank) AS rank_max
      FROM batch_visitors_day WHERE ${this.visitorsFilter(batchId, query)}
      GROUP BY hll_index`);
    return new Map(rows.map((r) => [Number(r['hll_index']), Number(r['rank_max'])]));
  }

  async truncateRawCopy(): Promise<void> {
    for (const table of ['raw_events', 'raw_invalid']) {
      await this.exec(this.truncateSql(table));
    }
  }

  /** TRUNCATE is `TRUNCATE TABLE t` on ClickHouse and `DELETE FROM t` on DuckDB. */
  protected abstract truncateSql(table: string): string;

  abstract dropBatchVersionsExcept(keep: readonly string[]): Promise<void>;

  /** Wraps a constant SQL snippet written in this repository (never user input). */
  protected raw(text: string): SqlFragment {
    return new SqlFragment(text);
  }
}

function toPageTotal(row: Row): PageTotal {
  return { pageId: String(row['page_id']), views: Number(row['views']) };
}

function toBucketViews(row: Row): BucketViews {
  return { bucket: Number(row['bucket']), views: Number(row['views']) };
}
