/**
 * The view store both SQL engines share. ClickHouseViewStore and DuckDbViewStore supply the
 * primitives (run a statement, read rows, bulk insert) and the few dialect differences;
 * the metric logic is written once, by concern, against a SqlContext built from them:
 * sql-speed-views.ts (speed views), sql-batch-views.ts (raw copy, batch build and batch
 * view reads) and sql-run-ledger.ts (batch runs and the boundary). This class only wires
 * them together and applies migrations.
 */
import type { SqlDialect, SqlFragment } from '../sql-escape.ts';
import { loadMigrations } from './migrations.ts';
import { SqlBatchViews, EVENTS_PER_PASS } from './sql-batch-views.ts';
import type { DialectFunctions, Row, SqlContext, TableRows } from './sql-context.ts';
import { SqlRunLedger } from './sql-run-ledger.ts';
import { SqlSpeedViews } from './sql-speed-views.ts';
import { SqlVisitorSalts } from './sql-visitor-salts.ts';
import type {
  BatchBoundary,
  BatchCutoff,
  BatchGrain,
  BatchVisitorsQuery,
  EventCount,
  EventCountsQuery,
  BatchRunRecord,
  BucketSessions,
  BucketViews,
  BucketVisitorSketches,
  BuildPassListener,
  BuildStats,
  DayVisitors,
  InvalidRecordRow,
  PageSessions,
  PageTotal,
  RawEventRow,
  RawEventsQuery,
  SpeedBucketViews,
  SpeedCheckpoint,
  SpeedMinuteRow,
  SpeedRowKeys,
  SpeedRows,
  SpeedVersionRange,
  ViewQuery,
  ViewStore,
  VisitorsQuery,
} from './view-store.ts';

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
  /** Bulk-inserts into several tables in order; engines with transactions make it one. */
  protected async insertAll(writes: readonly TableRows[]): Promise<void> {
    for (const { table, rows } of writes) await this.insert(table, rows);
  }
  /** Creates the database itself, when the engine has one. */
  protected abstract ensureDatabase(): Promise<void>;
  protected abstract migrationsTableDdl(): string;
  /** Deletes the speed tables' rows of buckets before a UTC day start (engine-specific). */
  protected abstract deleteSpeedBefore(dayStart: number): Promise<void>;
  abstract dropVisitorSaltsBefore(day: number): Promise<void>;
  abstract dropBatchVersionsExcept(keep: readonly string[]): Promise<void>;
  abstract ping(): Promise<boolean>;
  abstract close(): Promise<void>;

  private readonly context = this.sqlContext();
  private readonly speed = new SqlSpeedViews(this.context, (dayStart) => this.deleteSpeedBefore(dayStart));
  private readonly batch = new SqlBatchViews(this.context);
  private readonly ledger = new SqlRunLedger(this.context);
  private readonly salts = new SqlVisitorSalts(this.context);

  async migrate(throughVersion = Number.POSITIVE_INFINITY): Promise<void> {
    await this.ensureDatabase();
    await this.exec(this.migrationsTableDdl());
    const appliedRows = await this.rows(this.dialect.sql`SELECT version FROM schema_migrations`);
    const applied = new Set(appliedRows.map((r) => Number(r['version'])));
    for (const migration of await loadMigrations(this.kind)) {
      if (applied.has(migration.version) || migration.version > throughVersion) continue;
      for (const statement of migration.statements) await this.exec(statement);
      await this.insert('schema_migrations', [
        { version: migration.version, name: migration.name, applied_at: Date.now() },
      ]);
    }
  }

  /** The engine as the shared SQL sees it. Kind, dialect and fn are read at each use: the subclass sets them after this constructor. */
  private sqlContext(): SqlContext {
    const store = this;
    return {
      get kind() {
        return store.kind;
      },
      get dialect() {
        return store.dialect;
      },
      get fn() {
        return store.fn;
      },
      rows: (query) => this.rows(query),
      run: (statement) => this.exec(statement),
      insert: (table, rows) => this.insert(table, rows),
      insertAll: (writes) => this.insertAll(writes),
    };
  }

  // Speed views (sql-speed-views.ts).
  speedViews(query: ViewQuery): Promise<SpeedBucketViews[]> {
    return this.speed.speedViews(query);
  }
  speedRowsSince(ranges: readonly SpeedVersionRange[]): Promise<SpeedRows> {
    return this.speed.speedRowsSince(ranges);
  }
  speedSessions(query: ViewQuery): Promise<BucketSessions[]> {
    return this.speed.speedSessions(query);
  }
  speedSessionPages(query: ViewQuery): Promise<PageSessions[]> {
    return this.speed.speedSessionPages(query);
  }
  speedPageTotals(query: ViewQuery): Promise<PageTotal[]> {
    return this.speed.speedPageTotals(query);
  }
  speedTopPageSummaries(query: ViewQuery): Promise<string[]> {
    return this.speed.speedTopPageSummaries(query);
  }
  speedVisitorSketches(query: VisitorsQuery): Promise<string[]> {
    return this.speed.speedVisitorSketches(query);
  }
  speedVisitorSketchesByBucket(query: VisitorsQuery): Promise<BucketVisitorSketches[]> {
    return this.speed.speedVisitorSketchesByBucket(query);
  }
  speedRetainedFrom(): Promise<number | null> {
    return this.speed.speedRetainedFrom();
  }
  speedCheckpoints(): Promise<Map<number, SpeedCheckpoint>> {
    return this.speed.speedCheckpoints();
  }
  writeSpeedRows(rows: SpeedRows): Promise<void> {
    return this.speed.writeSpeedRows(rows);
  }
  writeSpeedCheckpoint(checkpoint: SpeedCheckpoint): Promise<void> {
    return this.speed.writeSpeedCheckpoint(checkpoint);
  }
  writeSpeedFlush(rows: SpeedRows, checkpoints: readonly SpeedCheckpoint[]): Promise<void> {
    return this.speed.writeSpeedFlush(rows, checkpoints);
  }
  speedRowsFor(partition: number, maxVersion: number, keys: SpeedRowKeys): Promise<Pick<SpeedRows, 'pageMinutes' | 'visitors' | 'sessions'>> {
    return this.speed.speedRowsFor(partition, maxVersion, keys);
  }
  dropSpeedBefore(from: number): Promise<void> {
    return this.speed.dropSpeedBefore(from);
  }
  speedPartitionRows(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedMinuteRow[]> {
    return this.speed.speedPartitionRows(partition, maxVersion, fromBucket);
  }
  speedPartitionState(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedRows> {
    return this.speed.speedPartitionState(partition, maxVersion, fromBucket);
  }

  // Raw copy, batch build and batch view reads (sql-batch-views.ts).
  rawCopyEndOffsets(): Promise<Map<number, number>> {
    return this.batch.rawCopyEndOffsets();
  }
  appendRawEvents(rows: readonly RawEventRow[]): Promise<void> {
    return this.batch.appendRawEvents(rows);
  }
  appendInvalidRecords(rows: readonly InvalidRecordRow[]): Promise<void> {
    return this.batch.appendInvalidRecords(rows);
  }
  truncateRawCopy(): Promise<void> {
    return this.batch.truncateRawCopy();
  }
  readRawEvents(query: RawEventsQuery): Promise<RawEventRow[]> {
    return this.batch.readRawEvents(query);
  }
  buildBatchViews(batchId: string, cutoff: BatchCutoff, onPass?: BuildPassListener): Promise<BuildStats> {
    return this.batch.buildBatchViews(batchId, cutoff, onPass, this.batchEventsPerPass);
  }
  batchViews(batchId: string, query: ViewQuery, grain?: BatchGrain): Promise<BucketViews[]> {
    return this.batch.batchViews(batchId, query, grain);
  }
  batchPageTotals(batchId: string, query: ViewQuery): Promise<PageTotal[]> {
    return this.batch.batchPageTotals(batchId, query);
  }
  batchSessions(batchId: string, query: ViewQuery, grain?: BatchGrain): Promise<BucketSessions[]> {
    return this.batch.batchSessions(batchId, query, grain);
  }
  batchSessionPages(batchId: string, query: ViewQuery): Promise<PageSessions[]> {
    return this.batch.batchSessionPages(batchId, query);
  }
  batchSites(batchId: string, from: number, to: number): Promise<string[]> {
    return this.batch.batchSites(batchId, from, to);
  }
  batchVisitors(batchId: string, query: BatchVisitorsQuery): Promise<number> {
    return this.batch.batchVisitors(batchId, query);
  }
  batchVisitorsByDay(batchId: string, query: ViewQuery): Promise<DayVisitors[]> {
    return this.batch.batchVisitorsByDay(batchId, query);
  }
  batchVisitorRegisters(batchId: string, query: BatchVisitorsQuery): Promise<Map<number, number>> {
    return this.batch.batchVisitorRegisters(batchId, query);
  }
  batchEventCounts(boundary: BatchBoundary, query: EventCountsQuery): Promise<EventCount[]> {
    return this.batch.batchEventCounts(boundary, query);
  }

  // Run ledger (sql-run-ledger.ts); dropBatchVersionsExcept is the engine's.
  recordBatchRun(run: BatchRunRecord): Promise<void> {
    return this.ledger.recordBatchRun(run);
  }
  latestBoundary(): Promise<BatchBoundary | null> {
    return this.ledger.latestBoundary();
  }
  batchRuns(limit: number): Promise<BatchRunRecord[]> {
    return this.ledger.batchRuns(limit);
  }

  // Visitor-id salts (sql-visitor-salts.ts); dropVisitorSaltsBefore is the engine's.
  visitorSalt(day: number, candidate: string): Promise<string> {
    return this.salts.visitorSalt(day, candidate);
  }
}
