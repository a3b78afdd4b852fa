/**
 * The batch build in SQL, for both engines: the raw copy and its invalid-record ledger,
 * building a version's views from the raw copy (deduplicated by eventId), and reading the
 * views of a version.
 */
import { bucketSql } from '../../core/time-buckets.ts';
import { joinSql, type SqlFragment } from '../sql-escape.ts';
import { VISIT_FIELDS, type VisitField, type VisitFields } from '../../core/page-view.ts';
import { DIMENSION_PROPERTIES, DIMENSION_SEPARATOR } from '../../core/dimensions.ts';
import { SESSION_GAP_MS } from '../../core/sessions.ts';
import { filterPatterns, type PropertyDefinition, type PropertyFilter } from '../../core/query/properties.ts';
import { pageFilter, raw, toPageTotal, toSessionTotals, type Row, type SqlContext } from './sql-context.ts';
import type {
  BatchBoundary,
  BatchCutoff,
  BatchGrain,
  BatchVisitorsQuery,
  BatchViewReader,
  BatchViewWriter,
  BucketViews,
  BucketSessions,
  BuildPassListener,
  BuildStats,
  DayVisitors,
  EventCount,
  EventCountsQuery,
  InvalidRecordRow,
  PageSessions,
  PageTotal,
  RawEventRow,
  RawEventsQuery,
  ViewQuery,
} from './view-store.ts';

/** The raw copy's column of each visit field (schema v2); '' holds an absent field. */
export const VISIT_COLUMNS: Readonly<Record<VisitField, string>> = {
  source: 'source',
  utmMedium: 'utm_medium',
  utmSource: 'utm_source',
  utmCampaign: 'utm_campaign',
  utmContent: 'utm_content',
  utmTerm: 'utm_term',
  device: 'device',
  browser: 'browser',
  browserVersion: 'browser_version',
  os: 'os',
  osVersion: 'os_version',
  country: 'country',
};

function visitColumns(row: VisitFields): Row {
  const out: Row = {};
  for (const field of VISIT_FIELDS) out[VISIT_COLUMNS[field]] = row[field] ?? '';
  return out;
}

/** Joins the shown values of an event's dimension properties in one string (event fields hold no control characters). */
const PACK_SEPARATOR = '\u001f';

/** The raw copy's column of a visit property's field. */
const rawColumn = (property: PropertyDefinition): string => (property.field === 'referrer' ? 'referrer' : VISIT_COLUMNS[property.field as VisitField]);

/** The staging column of a dimension property's shown value: `value_source` for `visit:source`. */
const valueColumn = (property: PropertyDefinition): string => `value_${property.name.slice(property.name.indexOf(':') + 1)}`;

/** One view of the batch build's pass: its rows go under the event's site plus `suffix`, with `value` as their page. */
interface ViewPair {
  suffix: string;
  value: SqlFragment;
}

/** The session sums of a group of session-view rows. */
const SESSION_SUMS = 'sum(visits) AS visits, sum(bounces) AS bounces, sum(duration_ms) AS duration_ms, sum(pageviews) AS pageviews';

/** Position of a record in the log as one sortable integer: partition * 2^40 + offset. */
export const POSITION_PARTITION_FACTOR = 1_099_511_627_776;

/** Raw rows deduplicated per pass of the batch build (bounds the engine's memory). */
export const EVENTS_PER_PASS = 500_000;

/** The run ledger's methods are in SqlRunLedger; readiness is the engine's. */
type BatchViewMethods =
  | Exclude<keyof BatchViewReader, 'ping' | 'latestBoundary' | 'batchRuns'>
  | Exclude<keyof BatchViewWriter, 'recordBatchRun' | 'dropBatchVersionsExcept'>;

export class SqlBatchViews implements Pick<BatchViewReader & BatchViewWriter, BatchViewMethods> {
  constructor(private readonly ctx: SqlContext) {}

  async rawCopyEndOffsets(): Promise<Map<number, number>> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT log_partition, max(last) AS last FROM (
        SELECT log_partition, max(log_offset) AS last FROM raw_events GROUP BY log_partition
        UNION ALL
        SELECT log_partition, max(log_offset) AS last FROM raw_invalid GROUP BY log_partition
      ) AS copied GROUP BY log_partition`);
    return new Map(rows.map((r) => [Number(r['log_partition']), Number(r['last']) + 1]));
  }

  async appendInvalidRecords(rows: readonly InvalidRecordRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ctx.insert(
      'raw_invalid',
      rows.map((r) => ({ log_partition: r.partition, log_offset: r.offset, reason: r.reason })),
    );
  }

  async appendRawEvents(rows: readonly RawEventRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ctx.insert(
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
        schema_version: r.schemaVersion ?? 1,
        ...visitColumns(r),
      })),
    );
  }

  async readRawEvents(query: RawEventsQuery): Promise<RawEventRow[]> {
    const { sql } = this.ctx.dialect;
    const rows = await this.ctx.rows(sql`
      SELECT log_partition, log_offset, event_id, site, page_id, visitor_id, visitor_hll_index, visitor_hll_rank,
        event_time, referrer, user_agent, schema_version, ${raw(Object.values(VISIT_COLUMNS).join(', '))}
      FROM raw_events
      WHERE log_partition = ${query.partition} AND log_offset >= ${query.fromOffset}
      ORDER BY log_offset LIMIT ${query.limit * 2}`);
    const out: RawEventRow[] = [];
    let last = -1;
    for (const r of rows) {
      const offset = Number(r['log_offset']);
      if (offset === last) continue; // a copy not yet merged away (ClickHouse)
      last = offset;
      if (out.length === query.limit) break;
      const row: RawEventRow = {
        partition: Number(r['log_partition']),
        offset,
        eventId: String(r['event_id']),
        site: String(r['site']),
        pageId: String(r['page_id']),
        visitorId: String(r['visitor_id']),
        visitorHllIndex: Number(r['visitor_hll_index']),
        visitorHllRank: Number(r['visitor_hll_rank']),
        eventTime: Number(r['event_time']),
        referrer: String(r['referrer']),
        userAgent: String(r['user_agent']),
        schemaVersion: Number(r['schema_version']) === 2 ? 2 : 1,
      };
      for (const field of VISIT_FIELDS) {
        const value = String(r[VISIT_COLUMNS[field]]);
        if (value !== '') (row as unknown as Record<VisitField, string>)[field] = value;
      }
      out.push(row);
    }
    return out;
  }

  async truncateRawCopy(): Promise<void> {
    for (const table of ['raw_events', 'raw_invalid']) {
      await this.ctx.run(this.ctx.fn.truncate(table));
    }
  }

  /** Raw rows inside the cutoff's offsets. */
  private offsetFilter(cutoff: BatchCutoff): SqlFragment {
    const { sql } = this.ctx.dialect;
    const inOffsets = [...cutoff.endOffsets].map(
      ([partition, end]) => sql`(log_partition = ${partition} AND log_offset < ${end})`,
    );
    return inOffsets.length === 0 ? sql`1 = 0` : joinSql(inOffsets, ' OR ');
  }

  /**
   * Raw rows inside the cutoff's offsets, deduplicated by eventId (first position wins); with
   * `pass`, only the event ids that hash into that pass (all copies of an event land in one).
   */
  private dedupedEventsSql(
    cutoff: BatchCutoff,
    pass: { index: number; of: number } = { index: 0, of: 1 },
  ): SqlFragment {
    const { sql } = this.ctx.dialect;
    const { fn } = this.ctx;
    const offsetFilter =
      pass.of === 1 ? this.offsetFilter(cutoff) : sql`(${this.offsetFilter(cutoff)}) AND ${raw(fn.hashBucket('event_id', pass.of))} = ${pass.index}`;
    const argMin = raw(fn.argMin);
    const positions = raw(fn.countDistinct('pos'));
    // The visit fields: each dimension property's raw field ('' when absent), packed in one string
    // (one aggregate state per event instead of thirteen, short for events without visit fields:
    // the engine's memory stays bounded).
    const packedIn = sql`${this.packedValuesSql()} AS packed,`;
    const packedOut = sql`${argMin}(packed, pos) AS packed,`;
    return sql`
      SELECT event_id,
        ${argMin}(site, pos) AS site,
        ${argMin}(page_id, pos) AS page_id,
        ${argMin}(visitor_id, pos) AS visitor_id,
        ${argMin}(visitor_hll_index, pos) AS hll_index,
        ${argMin}(visitor_hll_rank, pos) AS hll_rank,
        ${argMin}(event_time, pos) AS event_time,
        ${packedOut}
        ${positions} AS copies
      FROM (
        SELECT event_id, site, page_id, visitor_id, visitor_hll_index, visitor_hll_rank, event_time, ${packedIn}
          log_partition * ${POSITION_PARTITION_FACTOR} + log_offset AS pos
        FROM raw_events WHERE ${offsetFilter}
      ) AS in_cutoff
      GROUP BY event_id`;
  }

  /** The raw field of every dimension property of a raw row, joined by PACK_SEPARATOR (no event field holds a control character). */
  private packedValuesSql(): SqlFragment {
    const { sql } = this.ctx.dialect;
    return sql`concat(${joinSql(
      DIMENSION_PROPERTIES.flatMap((p, i) => (i === 0 ? [raw(rawColumn(p))] : [sql`${PACK_SEPARATOR}`, raw(rawColumn(p))])),
      ', ',
    )})`;
  }

  /** The `i`-th (from 0) value of a packed string. */
  private unpackSql(packed: SqlFragment, i: number): SqlFragment {
    const { sql } = this.ctx.dialect;
    return this.ctx.kind === 'clickhouse' ? sql`splitByChar(${PACK_SEPARATOR}, ${packed})[${i + 1}]` : sql`string_split(${packed}, ${PACK_SEPARATOR})[${i + 1}]`;
  }

  /**
   * Builds the version's views, in two kinds of passes that bound the engine's memory:
   *  1. **Deduplication passes** over disjoint sets of event ids (a hash of the id; all copies of
   *     an event land in one), at most `eventsPerPass` raw rows each: deduplicating needs every
   *     distinct event id in one hash table. Each appends its deduplicated events to
   *     batch_pass_events, which ends up holding every event of the cutoff's offsets once (those
   *     after the cutoff time too, for sessions).
   *  2. **Visitor passes** over disjoint sets of visitors (a hash of the visitor id), about
   *     `eventsPerPass` events each: a (site, value, day, visitor) row of batch_visitors_day and a
   *     visitor's sessions need only that visitor's events, so each row is written once, by one
   *     `SELECT DISTINCT` that holds at most one pass of visitors.
   * Page views are sums: one grouping per view over all the events, not per pass. `onPass` hears
   * of each pass once it is done (the visitor passes write the version's visitors and sessions;
   * the page views are all written before the first of them).
   */
  async buildBatchViews(batchId: string, cutoff: BatchCutoff, onPass?: BuildPassListener, eventsPerPass: number = EVENTS_PER_PASS): Promise<BuildStats> {
    const { kind, fn } = this.ctx;
    const { sql } = this.ctx.dialect;
    const hour = raw(bucketSql(kind, 'event_time', 'hour'));
    const day = raw(bucketSql(kind, 'event_time', 'day'));
    const sizeRows = await this.ctx.rows(sql`SELECT count(*) AS n FROM raw_events WHERE ${this.offsetFilter(cutoff)}`);
    // As many passes of each kind: a visitor pass holds at most as many events as raw rows in all.
    const passes = Math.max(1, Math.ceil(Number(sizeRows[0]?.['n'] ?? 0) / eventsPerPass));
    const valueColumns = DIMENSION_PROPERTIES.map(valueColumn);
    await this.ctx.run(fn.truncate('batch_pass_events'));
    for (let index = 0; index < passes; index++) {
      const deduped = this.dedupedEventsSql(cutoff, { index, of: passes });
      // Each event with its visitor pass: on ClickHouse the table's order, so a visitor pass reads its own part.
      await this.ctx.run(sql`
        INSERT INTO batch_pass_events (visitor_pass, site, page_id, visitor_id, hll_index, hll_rank, event_time, copies, ${raw(valueColumns.join(', '))})
        SELECT ${raw(fn.hashBucket('visitor_id', passes))}, site, page_id, visitor_id, hll_index, hll_rank, event_time, copies,
          ${joinSql(DIMENSION_PROPERTIES.map((p) => this.dedupedValueSql(p)), ', ')}
        FROM (${deduped}) AS deduped`);
      onPass?.({ kind: 'dedup', done: index + 1, of: passes });
    }
    // The views count the events before the cutoff time.
    const beforeCutoff = sql`event_time < ${cutoff.cutoffTime}`;
    const stats = await this.ctx.rows(sql`SELECT count(*) AS counted, sum(copies) AS positions FROM batch_pass_events WHERE ${beforeCutoff}`);
    const counted = Number(stats[0]?.['counted'] ?? 0);
    const positions = Number(stats[0]?.['positions'] ?? 0);
    // The views, as (suffix of the site, value) pairs: the page views, then each dimension
    // property's views under its dimension site. One statement per view, so no grouping holds
    // more than one value per (visitor, day). (Unnested into one grouping per view kind, an
    // ARRAY JOIN of (site suffix, value) pairs, the visitors exceeded ClickHouse 18.16's memory
    // limit at 400,000 events, and the page-hour counts were no faster at 2M:
    // bench/results/*-issue19-viewbuild-*.)
    const views: ViewPair[] = [
      { suffix: '', value: raw('page_id') },
      ...DIMENSION_PROPERTIES.map((p, i) => ({ suffix: DIMENSION_SEPARATOR + p.name, value: raw(valueColumns[i]!) })),
    ];
    for (const { suffix, value } of views) {
      await this.ctx.run(sql`
        INSERT INTO batch_page_hour (batch_id, site, page_id, bucket, views)
        SELECT ${batchId}, concat(site, ${suffix}), ${value}, ${hour} AS b, count(*) FROM batch_pass_events WHERE ${beforeCutoff} GROUP BY site, ${value}, b`);
    }
    for (let index = 0; index < passes; index++) {
      const inPass = sql`visitor_pass = ${index}`;
      // A visitor's register is a function of its id (raw-copy.ts), so DISTINCT writes the rows
      // a GROUP BY with any() of the register would, without the aggregate states. The site's
      // own visitors go under page_id ''; dimension sites have none (they would be the site's).
      for (const { suffix, value } of [...views, { suffix: '', value: sql`''` }]) {
        await this.ctx.run(sql`
          INSERT INTO batch_visitors_day (batch_id, site, page_id, bucket, visitor_id, hll_index, hll_rank)
          SELECT DISTINCT ${batchId}, concat(site, ${suffix}), ${value}, ${day}, visitor_id, hll_index, hll_rank
          FROM batch_pass_events WHERE ${beforeCutoff} AND ${inPass}`);
      }
      await this.buildSessions(batchId, cutoff, inPass);
      onPass?.({ kind: 'visitors', done: index + 1, of: passes });
    }
    await this.ctx.run(fn.truncate('batch_pass_events'));
    // Coarser views are rolled up from the finest one, not recomputed from the events.
    const dayOfBucket = raw(bucketSql(kind, 'bucket', 'day'));
    await this.ctx.run(sql`
      INSERT INTO batch_page_day (batch_id, site, page_id, bucket, views)
      SELECT batch_id, site, page_id, ${dayOfBucket} AS b, sum(views) FROM batch_page_hour
      WHERE batch_id = ${batchId} GROUP BY batch_id, site, page_id, b`);
    // Dimension sites have no site-level views of their own (they would be the site's).
    const realSite = sql`site NOT LIKE ${`%${DIMENSION_SEPARATOR}%`}`;
    await this.ctx.run(sql`
      INSERT INTO batch_site_hour (batch_id, site, bucket, views)
      SELECT batch_id, site, bucket, sum(views) FROM batch_page_hour WHERE batch_id = ${batchId} AND ${realSite} GROUP BY batch_id, site, bucket`);
    await this.ctx.run(sql`
      INSERT INTO batch_site_day (batch_id, site, bucket, views)
      SELECT batch_id, site, ${dayOfBucket} AS b, sum(views) FROM batch_site_hour WHERE batch_id = ${batchId} GROUP BY batch_id, site, b`);
    await this.ctx.run(sql`
      INSERT INTO batch_session_day (batch_id, site, page_id, bucket, visits, bounces, duration_ms, pageviews)
      SELECT batch_id, site, page_id, ${dayOfBucket} AS b, sum(visits), sum(bounces), sum(duration_ms), sum(pageviews)
      FROM batch_session_hour WHERE batch_id = ${batchId} GROUP BY batch_id, site, page_id, b`);
    return { rowsCounted: counted, rowsDuplicate: positions - counted };
  }

  /**
   * The session views (shared/core/sessions.ts) of the visitors `inPass`: their deduplicated
   * events of the whole raw copy (batch_pass_events, after the cutoff time too) are sessionized
   * per (site, visitor), so a session across midnight is one session. Sessions that start before
   * the cutoff time are counted whole, with their events after it (the speed layer counts only
   * sessions that start at or after the boundary): visits, bounces, total duration and page
   * views by the hour of the start, for the site and per entry and exit page.
   */
  private async buildSessions(batchId: string, cutoff: BatchCutoff, inPass: SqlFragment): Promise<void> {
    const { sql } = this.ctx.dialect;
    const { fn, kind } = this.ctx;
    const hour = raw(bucketSql(kind, 'session_start', 'hour'));
    const sums = sql`count(*), sum(CASE WHEN pageviews = 1 THEN 1 ELSE 0 END), sum(session_end - session_start), sum(pageviews)`;
    const columns = sql`(batch_id, site, page_id, bucket, visits, bounces, duration_ms, pageviews)`;
    const started = sql`session_start < ${cutoff.cutoffTime}`;
    await this.ctx.run(fn.truncate('batch_pass_sessions'));
    await this.ctx.run(sql`
      INSERT INTO batch_pass_sessions (site, session_start, session_end, pageviews, entry_page, exit_page)
      ${kind === 'clickhouse' ? this.sessionsClickHouseSql(inPass) : this.sessionsDuckDbSql(inPass)}`);
    await this.ctx.run(sql`
      INSERT INTO batch_session_hour ${columns}
      SELECT ${batchId}, site, '', ${hour} AS b, ${sums} FROM batch_pass_sessions WHERE ${started} GROUP BY site, b`);
    for (const [property, page] of [
      ['visit:entry_page', 'entry_page'],
      ['visit:exit_page', 'exit_page'],
    ] as const) {
      await this.ctx.run(sql`
        INSERT INTO batch_session_hour ${columns}
        SELECT ${batchId}, concat(site, ${DIMENSION_SEPARATOR + property}), ${raw(page)}, ${hour} AS b, ${sums}
        FROM batch_pass_sessions WHERE ${started} GROUP BY site, ${raw(page)}, b`);
    }
    await this.ctx.run(fn.truncate('batch_pass_sessions'));
  }

  /**
   * Sessions of the visitors `inPass` on ClickHouse (no window functions on 18.16): each
   * visitor's events sorted by (time, page) into an array; an event more than the gap after the
   * one before it starts a session; a running sum of starts numbers them.
   */
  private sessionsClickHouseSql(inPass: SqlFragment): SqlFragment {
    const { sql } = this.ctx.dialect;
    // Event times are after 2000-01-01, so the first event's "gap" from 0 always starts a session.
    return sql`
      SELECT site, min(t), max(t), count(*), argMin(p, i), argMax(p, i) FROM (
        SELECT site, visitor_id, tupleElement(e, 1) AS t, tupleElement(e, 2) AS p, i, n
        FROM (
          SELECT site, visitor_id, events,
            arrayCumSum(arrayMap((x, prev) -> tupleElement(x, 1) - prev > ${SESSION_GAP_MS} ? 1 : 0, events,
              arrayPushFront(arrayPopBack(arrayMap(x -> tupleElement(x, 1), events)), toInt64(0)))) AS numbers
          FROM (
            SELECT site, visitor_id, arraySort(groupArray((event_time, page_id))) AS events
            FROM batch_pass_events WHERE ${inPass} GROUP BY site, visitor_id
          ) AS visitor_events
        ) AS numbered
        ARRAY JOIN events AS e, arrayEnumerate(events) AS i, numbers AS n
      ) AS session_events
      GROUP BY site, visitor_id, n`;
  }

  /** Sessions of the visitors `inPass` on DuckDB: the same rule with window functions. */
  private sessionsDuckDbSql(inPass: SqlFragment): SqlFragment {
    const { sql } = this.ctx.dialect;
    const order = raw('PARTITION BY site, visitor_id ORDER BY event_time, page_id');
    return sql`
      SELECT site, min(event_time), max(event_time), count(*), arg_min(page_id, i), arg_max(page_id, i) FROM (
        SELECT site, visitor_id, event_time, page_id, i,
          sum(CASE WHEN prev IS NULL OR event_time - prev > ${SESSION_GAP_MS} THEN 1 ELSE 0 END) OVER (${order} ROWS UNBOUNDED PRECEDING) AS n
        FROM (
          SELECT site, visitor_id, event_time, page_id,
            lag(event_time) OVER (${order}) AS prev,
            row_number() OVER (${order}) AS i
          FROM batch_pass_events WHERE ${inPass}
        ) AS ordered
      ) AS numbered
      GROUP BY site, visitor_id, n`;
  }

  /**
   * A property's value of a raw row (or of a deduplicated event with its columns), as
   * `propertyValue` names it: the absent name for an empty field; the referrer without its
   * scheme, then without a leading `www.` (`referrerValue`).
   */
  private propertyValueSql(property: PropertyDefinition, column: SqlFragment = raw(rawColumn(property))): SqlFragment {
    const { sql } = this.ctx.dialect;
    if (property.field === 'pageId') return sql`page_id`;
    const regexOne = (expr: SqlFragment, pattern: string): SqlFragment =>
      this.ctx.kind === 'clickhouse' ? sql`replaceRegexpOne(${expr}, ${pattern}, '')` : sql`regexp_replace(${expr}, ${pattern}, '')`;
    const shown = property.field === 'referrer' ? regexOne(regexOne(column, '^[a-zA-Z][a-zA-Z0-9+.-]*://'), '^[wW][wW][wW][.]') : column;
    return sql`CASE WHEN ${column} = '' THEN ${property.absent} ELSE ${shown} END`;
  }

  /** A property's shown value of a deduplicated event (`dedupedEventsSql`): the page, or from its packed fields. */
  private dedupedValueSql(property: PropertyDefinition): SqlFragment {
    if (property.field === 'pageId') return raw('page_id');
    return this.propertyValueSql(property, this.unpackSql(raw('packed'), DIMENSION_PROPERTIES.findIndex((p) => p.name === property.name)));
  }

  /** Whether a `value` of the filter's property passes a filter: `filterMatches`, in SQL. */
  private filterSql(filter: PropertyFilter, value: SqlFragment): SqlFragment {
    const { sql } = this.ctx.dialect;
    const { exact, pattern } = filterPatterns(filter);
    const tests: SqlFragment[] = [];
    if (exact.length > 0) tests.push(sql`${value} IN (${joinSql(exact.map((v) => sql`${v}`), ', ')})`);
    if (pattern !== null) {
      // RE2 on both engines; (?s): '.' matches newlines, as the JavaScript matcher's 's' flag.
      const re = `(?s)${pattern}`;
      tests.push(this.ctx.kind === 'clickhouse' ? sql`match(${value}, ${re})` : sql`regexp_matches(${value}, ${re})`);
    }
    const any = sql`(${joinSql(tests, ' OR ')})`;
    return filter.negated ? sql`NOT ${any}` : any;
  }

  /**
   * The filters apply to the raw rows before deduplication: every copy of an event is the same
   * record (a redelivery), so a copy passes exactly when the event does, and only the matching
   * rows are grouped by event id (the cost follows the matching events, not the site's).
   */
  async batchEventCounts(boundary: BatchBoundary, query: EventCountsQuery): Promise<EventCount[]> {
    const { sql } = this.ctx.dialect;
    const { fn } = this.ctx;
    const cutoff: BatchCutoff = { cutoffTime: boundary.cutoffTime, endOffsets: new Map(Object.entries(boundary.endOffsets).map(([p, o]) => [Number(p), o])) };
    const to = Math.min(query.to, boundary.cutoffTime);
    if (query.from >= to) return [];
    const filters = query.filters.map((f) => this.filterSql(f, this.propertyValueSql(f.property)));
    const where = joinSql([this.offsetFilter(cutoff), sql`site = ${query.site} AND event_time >= ${query.from} AND event_time < ${to}`, ...filters].map((w) => sql`(${w})`), ' AND ');
    const by = query.groupBy;
    const value = by !== undefined && 'property' in by ? this.propertyValueSql(by.property) : sql`''`;
    const bucket = by !== undefined && 'interval' in by ? raw(bucketSql(this.ctx.kind, 'event_time', by.interval)) : sql`0`;
    const argMin = raw(fn.argMin);
    const rows = await this.ctx.rows(sql`
      SELECT value, ${bucket} AS bucket, count(*) AS views, ${raw(fn.countDistinct('visitor_id'))} AS visitors FROM (
        SELECT ${argMin}(value, pos) AS value, ${argMin}(event_time, pos) AS event_time, ${argMin}(visitor_id, pos) AS visitor_id
        FROM (
          SELECT event_id, ${value} AS value, event_time, visitor_id, log_partition * ${POSITION_PARTITION_FACTOR} + log_offset AS pos
          FROM raw_events WHERE ${where}
        ) AS matching_rows GROUP BY event_id
      ) AS matching GROUP BY value, bucket ORDER BY views DESC, value, bucket`);
    return rows.map((r) => ({ value: String(r['value']), bucket: Number(r['bucket']), views: Number(r['views']), visitors: Number(r['visitors']) }));
  }

  async batchViews(batchId: string, query: ViewQuery, grain: BatchGrain = 'hour'): Promise<BucketViews[]> {
    const table = raw(`batch_${query.pageId === undefined ? 'site' : 'page'}_${grain}`);
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT bucket, sum(views) AS views FROM ${table}
      WHERE batch_id = ${batchId} AND site = ${query.site} AND ${pageFilter(this.ctx, query)}
        AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY bucket ORDER BY bucket`);
    return rows.map((r) => ({ bucket: Number(r['bucket']), views: Number(r['views']) }));
  }

  async batchSessions(batchId: string, query: ViewQuery, grain: BatchGrain = 'hour'): Promise<BucketSessions[]> {
    const { sql } = this.ctx.dialect;
    const rows = await this.ctx.rows(sql`
      SELECT bucket, ${raw(SESSION_SUMS)} FROM ${raw(`batch_session_${grain}`)}
      WHERE batch_id = ${batchId} AND site = ${query.site} AND page_id = ${query.pageId ?? ''}
        AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY bucket ORDER BY bucket`);
    return rows.map((r) => ({ bucket: Number(r['bucket']), ...toSessionTotals(r) }));
  }

  async batchSessionPages(batchId: string, query: ViewQuery): Promise<PageSessions[]> {
    const { sql } = this.ctx.dialect;
    const rows = await this.ctx.rows(sql`
      SELECT page_id, ${raw(SESSION_SUMS)} FROM batch_session_hour
      WHERE batch_id = ${batchId} AND site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY page_id`);
    return rows.map((r) => ({ pageId: String(r['page_id']), ...toSessionTotals(r) }));
  }

  async batchSites(batchId: string, from: number, to: number): Promise<string[]> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT DISTINCT site FROM batch_site_day WHERE batch_id = ${batchId} AND bucket >= ${from} AND bucket < ${to} ORDER BY site`);
    return rows.map((r) => String(r['site']));
  }

  async batchPageTotals(batchId: string, query: ViewQuery): Promise<PageTotal[]> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT page_id, sum(views) AS views FROM batch_page_hour
      WHERE batch_id = ${batchId} AND site = ${query.site} AND bucket >= ${query.from} AND bucket < ${query.to}
      GROUP BY page_id`);
    return rows.map(toPageTotal);
  }

  private visitorsFilter(batchId: string, query: BatchVisitorsQuery): SqlFragment {
    const { sql } = this.ctx.dialect;
    const filters = query.pagesMatching;
    // A page's (value's) id is the value its filters match: the views name values as properties show them.
    const pageRows =
      filters === undefined ? sql`page_id = ${query.pageId ?? ''}` : sql`page_id <> '' AND ${joinSql([sql`1 = 1`, ...filters.map((f) => this.filterSql(f, raw('page_id')))], ' AND ')}`;
    return sql`batch_id = ${batchId} AND site = ${query.site} AND ${pageRows}
      AND bucket >= ${query.from} AND bucket < ${query.to}`;
  }

  async batchVisitors(batchId: string, query: BatchVisitorsQuery): Promise<number> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT ${raw(this.ctx.fn.countDistinct('visitor_id'))} AS visitors
      FROM batch_visitors_day WHERE ${this.visitorsFilter(batchId, query)}`);
    return Number(rows[0]?.['visitors'] ?? 0);
  }

  async batchVisitorsByDay(batchId: string, query: ViewQuery): Promise<DayVisitors[]> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT bucket, ${raw(this.ctx.fn.countDistinct('visitor_id'))} AS visitors
      FROM batch_visitors_day WHERE ${this.visitorsFilter(batchId, query)}
      GROUP BY bucket ORDER BY bucket`);
    return rows.map((r) => ({ bucket: Number(r['bucket']), visitors: Number(r['visitors']) }));
  }

  async batchVisitorRegisters(batchId: string, query: BatchVisitorsQuery): Promise<Map<number, number>> {
    const rows = await this.ctx.rows(this.ctx.dialect.sql`
      SELECT hll_index, max(hll_rank) AS rank_max
      FROM batch_visitors_day WHERE ${this.visitorsFilter(batchId, query)}
      GROUP BY hll_index`);
    return new Map(rows.map((r) => [Number(r['hll_index']), Number(r['rank_max'])]));
  }
}
