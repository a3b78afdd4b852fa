/**
 * What the shared SQL of the view store needs from an engine: its dialect, the few function
 * names that differ, and three primitives (read rows, run a statement, bulk insert). The
 * per-concern modules (sql-speed-views.ts, sql-batch-views.ts, sql-run-ledger.ts) are written
 * against this context only; SqlViewStore builds it from the engine's store.
 */
import { SqlFragment, type SqlDialect } from '../sql-escape.ts';
import type { PageTotal, ViewQuery } from './view-store.ts';
import type { SessionTotals } from '../../core/sessions.ts';

export type Row = Record<string, unknown>;

/** Rows for one table of a multi-table insert. */
export interface TableRows {
  table: string;
  rows: readonly Row[];
}

/** Function names (and the one statement) that differ between the engines. */
export interface DialectFunctions {
  /** A deterministic hash of `expr` reduced to [0, n). */
  hashBucket(expr: string, n: number): string;
  argMax: string;
  argMin: string;
  /** Any value of a group (all equal where it is used). */
  anyValue: string;
  countDistinct(expr: string): string;
  /** Empties a table: `TRUNCATE TABLE t` on ClickHouse, `DELETE FROM t` on DuckDB. */
  truncate(table: string): string;
}

export interface SqlContext {
  readonly kind: 'clickhouse' | 'duckdb';
  readonly dialect: SqlDialect;
  readonly fn: DialectFunctions;
  /** Runs a query and returns its rows as plain objects. */
  rows(query: SqlFragment): Promise<Row[]>;
  /** Runs a statement that returns no rows. */
  run(statement: SqlFragment | string): Promise<void>;
  /** Bulk-inserts rows (column → value objects) into a table. */
  insert(table: string, rows: readonly Row[]): Promise<void>;
  /** Bulk-inserts into several tables in order: in one transaction where the engine has them. */
  insertAll(writes: readonly TableRows[]): Promise<void>;
}

/** Wraps a constant SQL snippet written in this repository (never user input). */
export function raw(text: string): SqlFragment {
  return new SqlFragment(text);
}

/** The session sums of a row read with columns visits, bounces, duration_ms and pageviews. */
export function toSessionTotals(r: Row): SessionTotals {
  return { visits: Number(r['visits']), bounces: Number(r['bounces']), durationMs: Number(r['duration_ms']), pageviews: Number(r['pageviews']) };
}

export function toPageTotal(row: Row): PageTotal {
  return { pageId: String(row['page_id']), views: Number(row['views']) };
}

/** Rows of the query's page, or of every page when it has none. */
export function pageFilter(ctx: SqlContext, query: ViewQuery): SqlFragment {
  const { sql } = ctx.dialect;
  return query.pageId === undefined ? sql`1 = 1` : sql`page_id = ${query.pageId}`;
}
