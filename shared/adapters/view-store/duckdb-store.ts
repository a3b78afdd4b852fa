/**
 * DuckDbViewStore: the embedded view store, one DuckDB file. The only module that talks
 * to DuckDB; its errors become PlatformError here.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, DuckDBTypeId, type DuckDBAppender, type DuckDBConnection, type DuckDBListType, type DuckDBType } from '@duckdb/node-api';
import { PlatformError } from '../../core/errors.ts';
import { duckdbDialect, ident, type SqlFragment } from '../sql-escape.ts';
import { raw, type DialectFunctions, type Row, type TableRows } from './sql-context.ts';
import { BATCH_VIEW_TABLES } from './sql-run-ledger.ts';
import { SPEED_TABLES, SPEED_TABLE_KEYS } from './sql-speed-views.ts';
import { SqlViewStore } from './sql-view-store.ts';
import { speedLateLane, type SpeedCheckpoint, type SpeedRows } from './view-store.ts';

/** How often superseded speed rows are deleted (ms): a scan of the speed tables. */
const SPEED_COMPACTION_INTERVAL_MS = 60_000;

export interface DuckDbViewStoreOptions {
  /** Database file, or ':memory:'. The folder is created when missing. */
  path: string;
}

/** Runs async work one call at a time (a DuckDB connection runs one statement at a time). */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

function storeError(err: unknown, what: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PlatformError('PV_STORE_QUERY_FAILED', `DuckDB ${what} failed: ${message}`, { cause: err });
}

export class DuckDbViewStore extends SqlViewStore {
  readonly kind = 'duckdb' as const;
  readonly dialect = duckdbDialect;
  protected readonly fn: DialectFunctions = {
    argMax: 'arg_max',
    argMin: 'arg_min',
    anyValue: 'any_value',
    hashBucket: (expr, n) => `(hash(${expr}) % ${n})`,
    countDistinct: (expr) => `count(DISTINCT ${expr})`,
    truncate: (table) => `DELETE FROM ${this.dialect.identifier(table)}`,
  };

  private readonly writes = new SerialQueue();
  private readonly reads = new SerialQueue();
  private readonly columnsByTable = new Map<string, string[]>();
  private closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly reader: DuckDBConnection,
  ) {
    super();
  }

  static async open(options: DuckDbViewStoreOptions): Promise<DuckDbViewStore> {
    try {
      if (options.path !== ':memory:') await fs.mkdir(path.dirname(options.path), { recursive: true });
      const instance = await DuckDBInstance.create(options.path);
      const [writer, reader] = await Promise.all([instance.connect(), instance.connect()]);
      return new DuckDbViewStore(instance, writer, reader);
    } catch (err) {
      const message = (err as Error).message;
      // DuckDB's own text ("IO Error: Could not set lock on file … Conflicting lock is held in … (PID n)").
      if (/Could not set lock/i.test(message)) {
        const pid = /\(PID (\d+)\)/.exec(message)?.[1];
        throw new PlatformError('PV_STORE_LOCKED', `the DuckDB file ${options.path} is open in another process${pid === undefined ? '' : ` (pid ${pid})`}; one process opens it at a time`, {
          cause: err,
          details: { path: options.path, pid: pid === undefined ? null : Number(pid) },
        });
      }
      throw new PlatformError('PV_STORE_UNAVAILABLE', `cannot open DuckDB database ${options.path}: ${message}`, { cause: err });
    }
  }

  private check(): void {
    if (this.closed) throw new PlatformError('PV_STORE_UNAVAILABLE', 'the DuckDB view store is closed', { retriable: true });
  }

  protected async ensureDatabase(): Promise<void> {
    // A DuckDB file is its own database.
  }

  protected migrationsTableDdl(): string {
    return 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL, name VARCHAR NOT NULL, applied_at BIGINT NOT NULL)';
  }

  protected exec(statement: SqlFragment | string): Promise<void> {
    this.check();
    const text = typeof statement === 'string' ? statement : statement.text;
    return this.writes.run(async () => {
      try {
        await this.writer.run(text);
      } catch (err) {
        throw storeError(err, 'statement');
      }
    });
  }

  protected rows(query: SqlFragment): Promise<Row[]> {
    this.check();
    return this.reads.run(async () => {
      try {
        const reader = await this.reader.runAndReadAll(query.text);
        return reader.getRowObjectsJS() as Row[];
      } catch (err) {
        throw storeError(err, 'query');
      }
    });
  }

  private async tableColumns(table: string): Promise<string[]> {
    const cached = this.columnsByTable.get(table);
    if (cached !== undefined) return cached;
    const rows = await this.rows(
      this.dialect.sql`SELECT column_name FROM information_schema.columns WHERE table_name = ${table} ORDER BY ordinal_position`,
    );
    const columns = rows.map((r) => String(r['column_name']));
    this.columnsByTable.set(table, columns);
    return columns;
  }

  /** Appender inside a transaction: the rows appear all together or not at all. */
  protected async insert(table: string, rows: readonly Row[]): Promise<void> {
    await this.insertAll([{ table, rows }]);
  }

  /** One transaction, one appender per table in turn: every table's rows appear together or none do. */
  protected override async insertAll(writes: readonly TableRows[]): Promise<void> {
    this.check();
    const nonEmpty = writes.filter((w) => w.rows.length > 0);
    if (nonEmpty.length === 0) return;
    const columns = await Promise.all(nonEmpty.map((w) => this.tableColumns(w.table)));
    const what = `insert into ${nonEmpty.map((w) => w.table).join(', ')}`;
    await this.writes.run(async () => {
      let appender: DuckDBAppender | undefined;
      try {
        await this.writer.run('BEGIN TRANSACTION');
        for (const [w, { table, rows }] of nonEmpty.entries()) {
          appender = await this.writer.createAppender(table);
          const tableColumns = columns[w]!;
          const types = tableColumns.map((_, i) => appender!.columnType(i));
          for (const row of rows) {
            tableColumns.forEach((column, i) => appendValue(appender!, types[i]!, row[column], table, column));
            appender.endRow();
          }
          appender.flushSync();
          appender.closeSync();
          appender = undefined;
        }
        await this.writer.run('COMMIT');
      } catch (err) {
        try {
          appender?.closeSync();
        } catch {
          // the transaction is rolled back below either way
        }
        await this.writer.run('ROLLBACK').catch(() => undefined);
        throw storeError(err, what);
      }
    });
  }

  override async writeSpeedCheckpoint(checkpoint: SpeedCheckpoint): Promise<void> {
    await super.writeSpeedCheckpoint(checkpoint);
    await this.compactSpeedViews([checkpoint]);
  }

  override async writeSpeedFlush(rows: SpeedRows, checkpoints: readonly SpeedCheckpoint[]): Promise<void> {
    await super.writeSpeedFlush(rows, checkpoints);
    await this.compactSpeedViews(checkpoints);
  }

  /** Latest checkpoint version per partition not yet compacted. */
  private readonly compactable = new Map<number, number>();
  private lastCompaction = 0;

  /**
   * Like ReplacingMergeTree on ClickHouse: rows superseded by a newer version at or below a
   * durable checkpoint are deleted, and older checkpoints with them. It scans the speed
   * tables, so it runs at most once per SPEED_COMPACTION_INTERVAL_MS; readers take the latest
   * version per key either way.
   */
  private async compactSpeedViews(checkpoints: readonly SpeedCheckpoint[]): Promise<void> {
    for (const c of checkpoints) this.compactable.set(c.partition, Math.max(c.version, this.compactable.get(c.partition) ?? 0));
    const now = Date.now();
    if (now - this.lastCompaction < SPEED_COMPACTION_INTERVAL_MS) return;
    this.lastCompaction = now;
    const { sql } = this.dialect;
    for (const [partition, version] of this.compactable) {
      // The partition's rows and its late lane's (written under the same checkpoints).
      for (const [table, keys] of Object.entries(SPEED_TABLE_KEYS)) {
        const sameKey = keys.map((k) => `t.${k} = s.${k}`).join(' AND ');
        await this.exec(sql`
          DELETE FROM ${ident(table)} AS s
          WHERE s.log_partition IN (${[partition, speedLateLane(partition)]}) AND s.version < ${version}
            AND EXISTS (
              SELECT 1 FROM ${ident(table)} AS t
              WHERE t.log_partition = s.log_partition AND ${raw(sameKey)}
                AND t.version > s.version AND t.version <= ${version})`);
      }
      await this.exec(sql`DELETE FROM speed_checkpoints WHERE log_partition = ${partition} AND version < ${version}`);
    }
    this.compactable.clear();
  }

  protected async deleteSpeedBefore(dayStart: number): Promise<void> {
    for (const table of SPEED_TABLES) {
      await this.exec(this.dialect.sql`DELETE FROM ${ident(table)} WHERE bucket < ${dayStart}`);
    }
  }

  async dropVisitorSaltsBefore(day: number): Promise<void> {
    await this.exec(this.dialect.sql`DELETE FROM visitor_salts WHERE day < ${day}`);
  }

  async dropBatchVersionsExcept(keep: readonly string[]): Promise<void> {
    if (keep.length === 0) throw new PlatformError('PV_STORE_QUERY_FAILED', 'dropBatchVersionsExcept needs at least one version to keep');
    for (const table of BATCH_VIEW_TABLES) {
      await this.exec(this.dialect.sql`DELETE FROM ${ident(table)} WHERE batch_id NOT IN (${keep})`);
    }
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.rows(this.dialect.sql`SELECT 1 AS ok`);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let queued work finish before the connections go.
    await Promise.all([this.writes.run(async () => undefined), this.reads.run(async () => undefined)]);
    this.writer.closeSync();
    this.reader.closeSync();
    this.instance.closeSync();
  }
}

function appendValue(appender: DuckDBAppender, type: DuckDBType, value: unknown, table: string, column: string): void {
  if (value === undefined || value === null) {
    throw new PlatformError('PV_STORE_QUERY_FAILED', `insert into ${table}: column ${column} has no value`);
  }
  switch (type.typeId) {
    case DuckDBTypeId.LIST:
      appender.appendList((value as (number | bigint)[]).map((v) => BigInt(v)), type as DuckDBListType);
      return;
    case DuckDBTypeId.INTEGER:
      appender.appendInteger(Number(value));
      return;
    case DuckDBTypeId.BIGINT:
      appender.appendBigInt(BigInt(value as number | bigint));
      return;
    case DuckDBTypeId.VARCHAR:
      appender.appendVarchar(String(value));
      return;
    default:
      throw new PlatformError('PV_STORE_QUERY_FAILED', `insert into ${table}: column ${column} has an unsupported type ${type.toString()}`);
  }
}
