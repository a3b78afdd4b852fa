/**
 * The speed views in SQL, for both engines: reads of the speed tables (latest version per
 * key), writes of a checkpoint's rows, restoring a partition's state, retention and
 * checkpoints.
 */
import { PlatformError } from '../../core/errors.ts';
import { BucketRollup } from '../../core/query/rollup.ts';
import { CountMinSketch, countMinOvercountBound, hash64 } from '../../core/sketches/index.ts';
import { bucketStart, isBucketEdge } from '../../core/time-buckets.ts';
import { joinSql, type SqlFragment } from '../sql-escape.ts';
import { pageFilter, raw, toPageTotal, toSessionTotals, type Row, type SqlContext, type TableRows } from './sql-context.ts';
import { speedLateLane } from './view-store.ts';
import type {
  BucketSessions,
  BucketVisitorSketches,
  PageSessions,
  PageTotal,
  SpeedBucketViews,
  SpeedCheckpoint,
  SpeedMinuteRow,
  SpeedRowKeys,
  SpeedOverflowRow,
  SpeedOpenSessionRow,
  SpeedRows,
  SpeedSessionRow,
  SpeedVersionRange,
  SpeedVisitorsRow,
  SpeedViewReader,
  SpeedViewWriter,
  ViewQuery,
  VisitorsGrain,
  VisitorsQuery,
} from './view-store.ts';

/** The speed layer's versioned tables and the columns that identify a row's key (besides the partition). */
export const SPEED_TABLE_KEYS: Readonly<Record<string, readonly string[]>> = {
  speed_page_minute: ['site', 'page_id', 'bucket'],
  speed_overflow_minute: ['site', 'bucket'],
  speed_visitors: ['site', 'page_id', 'grain', 'bucket'],
  speed_session_minute: ['site', 'page_id', 'bucket'],
  speed_open_sessions: ['site', 'visitor_id'],
};
export const SPEED_TABLES = Object.keys(SPEED_TABLE_KEYS);

export class SqlSpeedViews implements Omit<SpeedViewReader, 'ping'>, SpeedViewWriter {
  /**
   * @param deleteBefore deletes the speed tables' rows of buckets before a UTC day start
   *   (engine-specific: whole partitions on ClickHouse, rows on DuckDB)
   */
  constructor(
    private readonly ctx: SqlContext,
    private readonly deleteBefore: (dayStart: number) => Promise<void>,
  ) {}

  private get argMax(): SqlFragment {
    return raw(this.ctx.fn.argMax);
  }

  async speedViews(query: ViewQuery): Promise<SpeedBucketViews[]> {
    const { sql } = this.ctx.dialect;
    const argMax = this.argMax;
    const range = sql`site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}`;
    // The exact counters and the sketch shapes of the overflow are independent reads.
    const [exact, shapes] = await Promise.all([
      this.ctx.rows(sql`
        SELECT bucket, sum(v) AS views FROM (
          SELECT log_partition, page_id, bucket, ${argMax}(views, version) AS v
          FROM speed_page_minute
          WHERE ${range} AND ${pageFilter(this.ctx, query)}
          GROUP BY log_partition, page_id, bucket
        ) AS latest
        GROUP BY bucket ORDER BY bucket`),
      query.pageId === undefined
        ? Promise.resolve([])
        : this.ctx.rows(sql`SELECT DISTINCT cms_width, cms_depth FROM speed_overflow_minute WHERE ${range}`),
    ]);
    const minutes = new BucketRollup('minute');
    for (const row of exact) minutes.add(Number(row['bucket']), Number(row['views']));
    if (query.pageId === undefined) {
      // A whole site: the overflow total is the exact count of the events beyond the key budget.
      const overflow = await this.ctx.rows(sql`
        SELECT bucket, sum(t) AS total FROM (
          SELECT log_partition, bucket, ${argMax}(total, version) AS t
          FROM speed_overflow_minute WHERE ${range}
          GROUP BY log_partition, bucket
        ) AS latest GROUP BY bucket`);
      for (const row of overflow) minutes.add(Number(row['bucket']), Number(row['total']));
    } else {
      // One page: for each sketch shape in the range, merge the partitions' sketches cell by
      // cell in the engine and take the minimum over the page's cells (one per row).
      const pageHash = hash64(query.pageId);
      for (const shape of shapes) {
        const width = Number(shape['cms_width']);
        const depth = Number(shape['cms_depth']);
        const cells = CountMinSketch.fromCells(width, depth, new Float64Array(width * depth)).cellIndexes(pageHash.hi, pageHash.lo);
        const sums = cells.map((cell, i) => sql`sum(c[${cell + 1}]) AS ${raw(`c${i}`)}`);
        const overflow = await this.ctx.rows(sql`
          SELECT bucket, sum(t) AS total, ${joinSql(sums, ', ')} FROM (
            SELECT log_partition, bucket, ${argMax}(total, version) AS t, ${argMax}(cms, version) AS c
            FROM speed_overflow_minute
            WHERE ${range} AND cms_width = ${width} AND cms_depth = ${depth}
            GROUP BY log_partition, bucket
          ) AS latest GROUP BY bucket`);
        for (const row of overflow) {
          const estimate = Math.min(...cells.map((_, i) => Number(row[`c${i}`])));
          minutes.add(Number(row['bucket']), estimate, countMinOvercountBound(width, Number(row['total'])));
        }
      }
    }
    return minutes.entries().filter((b) => b.views > 0 || b.overcountBound > 0);
  }

  /** The latest session sums of every (partition, key) of the query's site in [from, to), with `by` as selected. */
  private latestSessionsSql(query: ViewQuery, by: 'bucket' | 'page_id'): SqlFragment {
    const { sql } = this.ctx.dialect;
    const argMax = this.argMax;
    const page = by === 'bucket' ? sql`AND page_id = ${query.pageId ?? ''}` : sql`AND page_id <> ''`;
    return sql`
      SELECT ${raw(by)}, sum(v) AS visits, sum(b) AS bounces, sum(d) AS duration_ms, sum(p) AS pageviews FROM (
        SELECT log_partition, page_id, bucket, ${argMax}(visits, version) AS v, ${argMax}(bounces, version) AS b,
          ${argMax}(duration_ms, version) AS d, ${argMax}(pageviews, version) AS p
        FROM speed_session_minute
        WHERE site = ${query.site} ${page} AND bucket >= ${query.from} AND bucket < ${query.to}
        GROUP BY log_partition, page_id, bucket
      ) AS latest GROUP BY ${raw(by)}`;
  }

  async speedSessions(query: ViewQuery): Promise<BucketSessions[]> {
    const rows = await this.ctx.rows(this.latestSessionsSql(query, 'bucket'));
    return rows
      .map((r) => ({ bucket: Number(r['bucket']), ...toSessionTotals(r) }))
      .filter((r) => r.visits !== 0)
      .sort((a, b) => a.bucket - b.bucket);
  }

  async speedSessionPages(query: ViewQuery): Promise<PageSessions[]> {
    const rows = await this.ctx.rows(this.latestSessionsSql(query, 'page_id'));
    return rows.map((r) => ({ pageId: String(r['page_id']), ...toSessionTotals(r) })).filter((r) => r.visits !== 0);
  }

  async speedPageTotals(query: ViewQuery): Promise<PageTotal[]> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT page_id, sum(v) AS views FROM (
        SELECT log_partition, page_id, bucket, ${this.argMax}(views, version) AS v
        FROM speed_page_minute
        WHERE site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}
        GROUP BY log_partition, page_id, bucket
      ) AS latest GROUP BY page_id`);
    return rows.map(toPageTotal);
  }

  async speedTopPageSummaries(query: ViewQuery): Promise<string[]> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT ${this.argMax}(top_pages, version) AS top FROM speed_overflow_minute
      WHERE site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY log_partition, bucket`);
    return rows.map((r) => String(r['top']));
  }

  async speedVisitorSketches(query: VisitorsQuery): Promise<string[]> {
    return (await this.latestVisitorSketches(query)).map((r) => String(r['h']));
  }

  async speedVisitorSketchesByBucket(query: VisitorsQuery): Promise<BucketVisitorSketches[]> {
    const byBucket = new Map<number, string[]>();
    for (const row of await this.latestVisitorSketches(query)) {
      const bucket = Number(row['bucket']);
      const sketches = byBucket.get(bucket);
      if (sketches === undefined) byBucket.set(bucket, [String(row['h'])]);
      else sketches.push(String(row['h']));
    }
    return [...byBucket].sort(([a], [b]) => a - b).map(([bucket, sketches]) => ({ bucket, sketches }));
  }

  /** The latest sketch (`h`) of every (partition, bucket) of the query, with its `bucket`. */
  private latestVisitorSketches(query: VisitorsQuery): Promise<Row[]> {
    return this.ctx.rows(this.ctx.dialect.sql`
      SELECT bucket, ${this.argMax}(hll, version) AS h FROM speed_visitors
      WHERE site = ${query.site} AND grain = ${query.grain} AND page_id = ${query.pageId ?? ''}
        AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY log_partition, bucket`);
  }

  async writeSpeedRows(rows: SpeedRows): Promise<void> {
    await this.ctx.insertAll(speedTableRows(rows));
  }

  async writeSpeedFlush(rows: SpeedRows, checkpoints: readonly SpeedCheckpoint[]): Promise<void> {
    await this.ctx.insertAll([...speedTableRows(rows), { table: 'speed_checkpoints', rows: checkpoints.map(checkpointRow) }]);
  }

  async speedRowsFor(partition: number, maxVersion: number, keys: SpeedRowKeys): Promise<Pick<SpeedRows, 'pageMinutes' | 'visitors' | 'sessions'>> {
    const { sql } = this.ctx.dialect;
    const argMax = this.argMax;
    // The IN lists select a superset (their cross product); the wanted keys are kept here. All
    // reads run together: a late merge holds the speed layer's batches until they answer.
    const minuteReads = keyChunks(keys.pageMinutes).map(async (chunk) => {
      const wanted = new Set(chunk.map((k) => rowKey(k.site, k.pageId, '', k.bucket)));
      const rows = await this.ctx.rows(sql`
        SELECT site, page_id, bucket, ${argMax}(views, version) AS latest_views, max(version) AS latest_version
        FROM speed_page_minute
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND site IN (${distinct(chunk.map((k) => k.site))})
          AND page_id IN (${distinct(chunk.map((k) => k.pageId))}) AND bucket IN (${distinct(chunk.map((k) => k.bucket))})
        GROUP BY site, page_id, bucket`);
      return rows.map((r) => toMinuteRow(partition, r)).filter((row) => wanted.has(rowKey(row.site, row.pageId, '', row.bucket)));
    });
    const visitorReads = keyChunks(keys.visitors).map(async (chunk) => {
      const wanted = new Set(chunk.map((k) => rowKey(k.site, k.pageId, k.grain, k.bucket)));
      const rows = await this.ctx.rows(sql`
        SELECT site, page_id, grain, bucket, ${argMax}(hll, version) AS latest_hll, max(version) AS latest_version
        FROM speed_visitors
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND site IN (${distinct(chunk.map((k) => k.site))})
          AND page_id IN (${distinct(chunk.map((k) => k.pageId))}) AND grain IN (${distinct(chunk.map((k) => k.grain))})
          AND bucket IN (${distinct(chunk.map((k) => k.bucket))})
        GROUP BY site, page_id, grain, bucket`);
      return rows.map((r) => toVisitorsRow(partition, r)).filter((row) => wanted.has(rowKey(row.site, row.pageId, row.grain, row.bucket)));
    });
    const sessionReads = keyChunks(keys.sessions ?? []).map(async (chunk) => {
      const wanted = new Set(chunk.map((k) => rowKey(k.site, k.pageId, '', k.bucket)));
      const rows = await this.ctx.rows(sql`
        SELECT site, page_id, bucket, ${raw(LATEST_SESSION_SUMS(this.ctx.fn.argMax))}, max(version) AS latest_version
        FROM speed_session_minute
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND site IN (${distinct(chunk.map((k) => k.site))})
          AND page_id IN (${distinct(chunk.map((k) => k.pageId))}) AND bucket IN (${distinct(chunk.map((k) => k.bucket))})
        GROUP BY site, page_id, bucket`);
      return rows.map((r) => toSessionRow(partition, r)).filter((row) => wanted.has(rowKey(row.site, row.pageId, '', row.bucket)));
    });
    const [pageMinutes, visitors, sessions] = await Promise.all([Promise.all(minuteReads), Promise.all(visitorReads), Promise.all(sessionReads)]);
    return { pageMinutes: pageMinutes.flat(), visitors: visitors.flat(), sessions: sessions.flat() };
  }

  async speedPartitionState(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedRows> {
    const { sql } = this.ctx.dialect;
    const argMax = this.argMax;
    const fromHour = bucketStart(fromBucket, 'hour');
    const [pageMinutes, overflow, visitors, sessions, openSessions] = await Promise.all([
      this.speedPartitionRows(partition, maxVersion, fromBucket),
      this.ctx.rows(sql`
        SELECT site, bucket, ${argMax}(total, version) AS latest_total, ${argMax}(cms_width, version) AS latest_width,
          ${argMax}(cms_depth, version) AS latest_depth, ${argMax}(cms, version) AS latest_cms,
          ${argMax}(top_pages, version) AS latest_top, max(version) AS latest_version
        FROM speed_overflow_minute
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND bucket >= ${fromBucket}
        GROUP BY site, bucket`),
      this.ctx.rows(sql`
        SELECT site, page_id, grain, bucket, ${argMax}(hll, version) AS latest_hll, max(version) AS latest_version
        FROM speed_visitors
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND bucket >= ${fromHour}
        GROUP BY site, page_id, grain, bucket`),
      this.ctx.rows(sql`
        SELECT site, page_id, bucket, ${raw(LATEST_SESSION_SUMS(this.ctx.fn.argMax))}, max(version) AS latest_version
        FROM speed_session_minute
        WHERE log_partition = ${partition} AND version <= ${maxVersion} AND bucket >= ${fromBucket}
        GROUP BY site, page_id, bucket`),
      this.ctx.rows(sql`
        SELECT site, visitor_id, ${argMax}(bucket, version) AS latest_end, ${argMax}(session_start, version) AS latest_start,
          ${argMax}(pageviews, version) AS latest_pageviews, ${argMax}(entry_page, version) AS latest_entry,
          ${argMax}(exit_page, version) AS latest_exit, ${argMax}(last_event, version) AS latest_event,
          ${argMax}(removed, version) AS latest_removed, max(version) AS latest_version
        FROM speed_open_sessions
        WHERE log_partition = ${partition} AND version <= ${maxVersion}
        GROUP BY site, visitor_id`),
    ]);
    return {
      pageMinutes,
      overflow: overflow.map((r) => toOverflowRow(partition, r)),
      visitors: visitors.map((r) => toVisitorsRow(partition, r)),
      sessions: sessions.map((r) => toSessionRow(partition, r)),
      openSessions: openSessions.map((r) => toOpenSessionRow(partition, r)).filter((r) => !r.removed),
    };
  }

  async speedRowsSince(ranges: readonly SpeedVersionRange[]): Promise<SpeedRows> {
    if (ranges.length === 0) return { pageMinutes: [], overflow: [], visitors: [], sessions: [] };
    const { sql } = this.ctx.dialect;
    const argMax = this.argMax;
    const inRanges = joinSql(
      ranges.map((r) => sql`(log_partition IN (${[r.partition, speedLateLane(r.partition)]}) AND version > ${r.after} AND version <= ${r.through})`),
      ' OR ',
    );
    const [pageMinutes, overflow, visitors, sessions] = await Promise.all([
      this.ctx.rows(sql`
        SELECT log_partition, site, page_id, bucket, ${argMax}(views, version) AS latest_views, max(version) AS latest_version
        FROM speed_page_minute WHERE ${inRanges}
        GROUP BY log_partition, site, page_id, bucket`),
      this.ctx.rows(sql`
        SELECT log_partition, site, bucket, ${argMax}(total, version) AS latest_total, ${argMax}(cms_width, version) AS latest_width,
          ${argMax}(cms_depth, version) AS latest_depth, ${argMax}(cms, version) AS latest_cms,
          ${argMax}(top_pages, version) AS latest_top, max(version) AS latest_version
        FROM speed_overflow_minute WHERE ${inRanges}
        GROUP BY log_partition, site, bucket`),
      this.ctx.rows(sql`
        SELECT log_partition, site, page_id, grain, bucket, ${argMax}(hll, version) AS latest_hll, max(version) AS latest_version
        FROM speed_visitors WHERE ${inRanges}
        GROUP BY log_partition, site, page_id, grain, bucket`),
      this.ctx.rows(sql`
        SELECT log_partition, site, page_id, bucket, ${raw(LATEST_SESSION_SUMS(this.ctx.fn.argMax))}, max(version) AS latest_version
        FROM speed_session_minute WHERE ${inRanges}
        GROUP BY log_partition, site, page_id, bucket`),
    ]);
    const partitionOf = (r: Row): number => Number(r['log_partition']);
    return {
      pageMinutes: pageMinutes.map((r) => toMinuteRow(partitionOf(r), r)),
      overflow: overflow.map((r) => toOverflowRow(partitionOf(r), r)),
      visitors: visitors.map((r) => toVisitorsRow(partitionOf(r), r)),
      sessions: sessions.map((r) => toSessionRow(partitionOf(r), r)),
    };
  }

  async speedPartitionRows(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedMinuteRow[]> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT site, page_id, bucket, ${this.argMax}(views, version) AS latest_views, max(version) AS latest_version
      FROM speed_page_minute
      WHERE log_partition = ${partition} AND version <= ${maxVersion} AND bucket >= ${fromBucket}
      GROUP BY site, page_id, bucket`);
    return rows.map((r) => toMinuteRow(partition, r));
  }

  async dropSpeedBefore(from: number): Promise<void> {
    if (!isBucketEdge(from, 'hour')) {
      throw new PlatformError('PV_STORE_QUERY_FAILED', `dropSpeedBefore needs a UTC hour start, got ${new Date(from).toISOString()}`);
    }
    // Whole days go (partitions on ClickHouse); the hours of `from`'s day before it are only marked.
    await this.deleteBefore(bucketStart(from, 'day'));
    await this.ctx.insert('speed_retention', [{ dropped_before: from, recorded_at: Date.now() }]);
  }

  async speedRetainedFrom(): Promise<number | null> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`SELECT count(*) AS n, max(dropped_before) AS d FROM speed_retention`);
    const row = rows[0];
    return row === undefined || Number(row['n']) === 0 ? null : Number(row['d']);
  }

  async writeSpeedCheckpoint(checkpoint: SpeedCheckpoint): Promise<void> {
    await this.ctx.insert('speed_checkpoints', [checkpointRow(checkpoint)]);
  }

  async speedCheckpoints(): Promise<Map<number, SpeedCheckpoint>> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT log_partition, ${this.argMax}(next_offset, version) AS latest_offset,
        ${this.argMax}(max_event_time, version) AS latest_event_time, ${this.argMax}(replay_from, version) AS latest_replay_from,
        max(version) AS latest_version
      FROM speed_checkpoints GROUP BY log_partition`);
    return new Map(
      rows.map((r) => {
        const partition = Number(r['log_partition']);
        return [partition, {
            partition,
            nextOffset: Number(r['latest_offset']),
            // -1: written before replay_from existed, when every row was written at each checkpoint.
            replayFrom: Number(r['latest_replay_from']) < 0 ? Number(r['latest_offset']) : Number(r['latest_replay_from']),
            maxEventTime: Number(r['latest_event_time']),
            version: Number(r['latest_version']),
          }];
      }),
    );
  }
}

function minuteRow(r: SpeedMinuteRow): Row {
  return { log_partition: r.partition, site: r.site, page_id: r.pageId, bucket: r.bucket, views: r.views, version: r.version };
}

/** The rows of a speed write, table by table (the order readers can rely on: counters first). */
function speedTableRows(rows: SpeedRows): TableRows[] {
  return [
    { table: 'speed_page_minute', rows: rows.pageMinutes.map(minuteRow) },
    {
      table: 'speed_overflow_minute',
      rows: rows.overflow.map((r) => ({
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
    },
    {
      table: 'speed_session_minute',
      rows: (rows.sessions ?? []).map((r) => ({
        log_partition: r.partition,
        site: r.site,
        page_id: r.pageId,
        bucket: r.bucket,
        visits: r.visits,
        bounces: r.bounces,
        duration_ms: r.durationMs,
        pageviews: r.pageviews,
        version: r.version,
      })),
    },
    {
      table: 'speed_open_sessions',
      rows: (rows.openSessions ?? []).map((r) => ({
        log_partition: r.partition,
        site: r.site,
        visitor_id: r.visitorId,
        bucket: r.end,
        session_start: r.start,
        pageviews: r.pageviews,
        entry_page: r.entryPage,
        exit_page: r.exitPage,
        last_event: r.lastEvent,
        removed: r.removed ? 1 : 0,
        version: r.version,
      })),
    },
    {
      table: 'speed_visitors',
      rows: rows.visitors.map((r) => ({
        log_partition: r.partition,
        site: r.site,
        page_id: r.pageId,
        grain: r.grain,
        bucket: r.bucket,
        hll: r.hll,
        version: r.version,
      })),
    },
  ];
}

/** The latest session sums of a group of versions of one key. */
const LATEST_SESSION_SUMS = (argMax: string): string =>
  `${argMax}(visits, version) AS latest_visits, ${argMax}(bounces, version) AS latest_bounces, ` +
  `${argMax}(duration_ms, version) AS latest_duration, ${argMax}(pageviews, version) AS latest_pageviews`;

function toSessionRow(partition: number, r: Row): SpeedSessionRow {
  return {
    partition,
    site: String(r['site']),
    pageId: String(r['page_id']),
    bucket: Number(r['bucket']),
    visits: Number(r['latest_visits']),
    bounces: Number(r['latest_bounces']),
    durationMs: Number(r['latest_duration']),
    pageviews: Number(r['latest_pageviews']),
    version: Number(r['latest_version']),
  };
}

function toOpenSessionRow(partition: number, r: Row): SpeedOpenSessionRow {
  return {
    partition,
    site: String(r['site']),
    visitorId: String(r['visitor_id']),
    start: Number(r['latest_start']),
    end: Number(r['latest_end']),
    pageviews: Number(r['latest_pageviews']),
    entryPage: String(r['latest_entry']),
    exitPage: String(r['latest_exit']),
    lastEvent: String(r['latest_event']),
    removed: Number(r['latest_removed']) !== 0,
    version: Number(r['latest_version']),
  };
}

function checkpointRow(checkpoint: SpeedCheckpoint): Row {
  return {
    log_partition: checkpoint.partition,
    next_offset: checkpoint.nextOffset,
    replay_from: checkpoint.replayFrom,
    max_event_time: checkpoint.maxEventTime,
    version: checkpoint.version,
    written_at: Date.now(),
  };
}

function toMinuteRow(partition: number, r: Row): SpeedMinuteRow {
  return {
    partition,
    site: String(r['site']),
    pageId: String(r['page_id']),
    bucket: Number(r['bucket']),
    views: Number(r['latest_views']),
    version: Number(r['latest_version']),
  };
}

function toOverflowRow(partition: number, r: Row): SpeedOverflowRow {
  return {
    partition,
    site: String(r['site']),
    bucket: Number(r['bucket']),
    total: Number(r['latest_total']),
    cmsWidth: Number(r['latest_width']),
    cmsDepth: Number(r['latest_depth']),
    cms: (r['latest_cms'] as unknown[]).map(Number),
    topPages: String(r['latest_top']),
    version: Number(r['latest_version']),
  };
}

function toVisitorsRow(partition: number, r: Row): SpeedVisitorsRow {
  return {
    partition,
    site: String(r['site']),
    pageId: String(r['page_id']),
    grain: String(r['grain']) as VisitorsGrain,
    bucket: Number(r['bucket']),
    hll: String(r['latest_hll']),
    version: Number(r['latest_version']),
  };
}

function rowKey(site: string, pageId: string, grain: string, bucket: number): string {
  return `${site}\u0001${pageId}\u0001${grain}\u0001${bucket}`;
}

function distinct<T extends string | number>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/** Page-id text per read of speedRowsFor: keeps each statement far below ClickHouse's max_query_size (256 KiB). */
const KEY_CHUNK_CHARS = 32_768;

/** Splits keys into reads, grouped by page so each read's page list stays short. */
function keyChunks<K extends { pageId: string }>(keys: readonly K[]): K[][] {
  const sorted = [...keys].sort((a, b) => (a.pageId < b.pageId ? -1 : a.pageId > b.pageId ? 1 : 0));
  const chunks: K[][] = [];
  let chunk: K[] = [];
  let chars = 0;
  let lastPage: string | null = null;
  for (const key of sorted) {
    if (key.pageId !== lastPage) {
      if (chars + key.pageId.length > KEY_CHUNK_CHARS && chunk.length > 0) {
        chunks.push(chunk);
        chunk = [];
        chars = 0;
      }
      chars += key.pageId.length + 4;
      lastPage = key.pageId;
    }
    chunk.push(key);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
