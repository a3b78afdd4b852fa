/**
 * ClickHouseViewStore: the production view store. The only module that talks to
 * ClickHouse; server and network errors become PlatformError here.
 *
 * Works with ClickHouse 18.16 (CI) and current versions: no query parameters, no
 * DateTime64, no LowCardinality; values reach SQL only through the dialect's escaping.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { PlatformError } from '../../core/errors.ts';
import { clickhouseDialect, ident, type SqlFragment } from '../sql-escape.ts';
import { INTERVAL_MS } from '../../core/time-buckets.ts';
import type { DialectFunctions, Row } from './sql-context.ts';
import { BATCH_VIEW_TABLES } from './sql-run-ledger.ts';
import { SPEED_TABLES } from './sql-speed-views.ts';
import { SqlViewStore } from './sql-view-store.ts';

export interface ClickHouseViewStoreOptions {
  /** HTTP URL of the server, e.g. http://127.0.0.1:8123. */
  url: string;
  /** Database holding the platform's tables; created by migrate(). */
  database: string;
  /** @default 'default' */
  username?: string;
  /** @default '' */
  password?: string;
  /** Per-request timeout in ms. @default 30000 */
  requestTimeoutMs?: number;
}

export const CLICKHOUSE_STORE_DEFAULTS = {
  username: 'default',
  password: '',
  requestTimeoutMs: 30_000,
} as const;

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

/** Converts a client or server error into the project's error, deciding retriability from metadata. */
export function clickhouseError(err: unknown, what: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const e = err as { code?: unknown; type?: unknown; message?: unknown; name?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const code = typeof e.code === 'string' ? e.code : undefined;
  const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
  if ((code !== undefined && NETWORK_ERROR_CODES.has(code)) || timedOut) {
    return new PlatformError('PV_STORE_UNAVAILABLE', `ClickHouse ${what}: server unreachable (${code ?? 'timeout'})`, {
      cause: err,
      retriable: true,
    });
  }
  return new PlatformError('PV_STORE_QUERY_FAILED', `ClickHouse ${what} failed: ${message}`, { cause: err });
}

export class ClickHouseViewStore extends SqlViewStore {
  readonly kind = 'clickhouse' as const;
  readonly dialect = clickhouseDialect;
  protected readonly fn: DialectFunctions = {
    argMax: 'argMax',
    argMin: 'argMin',
    anyValue: 'any',
    hashBucket: (expr, n) => `(cityHash64(${expr}) % ${n})`,
    countDistinct: (expr) => `uniqExact(${expr})`,
    truncate: (table) => `TRUNCATE TABLE ${this.dialect.identifier(table)}`,
  };

  private readonly client: ClickHouseClient;
  private readonly admin: ClickHouseClient;
  private closed = false;

  constructor(private readonly options: ClickHouseViewStoreOptions) {
    super();
    const common = {
      url: options.url,
      username: options.username ?? CLICKHOUSE_STORE_DEFAULTS.username,
      password: options.password ?? CLICKHOUSE_STORE_DEFAULTS.password,
      request_timeout: options.requestTimeoutMs ?? CLICKHOUSE_STORE_DEFAULTS.requestTimeoutMs,
      // 18.16 knows none of the newer settings some client defaults would send.
      clickhouse_settings: {},
      compression: { request: false, response: false },
      // Failures reach callers as PlatformErrors (and are logged there); the client's own
      // console logging would only repeat them.
      log: { level: ClickHouseLogLevel.OFF },
    };
    this.client = createClient({ ...common, database: options.database });
    // The database may not exist yet: migrate() creates it through a client bound to `default`.
    this.admin = createClient({ ...common, database: 'default' });
  }

  private check(): void {
    if (this.closed) throw new PlatformError('PV_STORE_UNAVAILABLE', 'the ClickHouse view store is closed', { retriable: true });
  }

  protected async ensureDatabase(): Promise<void> {
    this.check();
    try {
      await this.admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${this.dialect.identifier(this.options.database)}` });
    } catch (err) {
      throw clickhouseError(err, 'create database');
    }
  }

  protected migrationsTableDdl(): string {
    return 'CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at Int64) ENGINE = MergeTree() ORDER BY version';
  }

  protected async exec(statement: SqlFragment | string): Promise<void> {
    this.check();
    const query = typeof statement === 'string' ? statement : statement.text;
    try {
      await this.client.command({ query });
    } catch (err) {
      throw clickhouseError(err, 'statement');
    }
  }

  protected async rows(query: SqlFragment): Promise<Row[]> {
    this.check();
    try {
      const result = await this.client.query({ query: query.text, format: 'JSONEachRow' });
      return await result.json<Row>();
    } catch (err) {
      throw clickhouseError(err, 'query');
    }
  }

  protected async insert(table: string, rows: readonly Row[]): Promise<void> {
    this.check();
    if (rows.length === 0) return;
    try {
      // One INSERT is one block: atomic for up to max_insert_block_size (1,048,576) rows.
      await this.client.insert({ table, values: rows as Row[], format: 'JSONEachRow' });
    } catch (err) {
      throw clickhouseError(err, `insert into ${table}`);
    }
  }

  /** The partition values of a table's active parts, as system.parts shows them. */
  private async activePartitions(table: string): Promise<string[]> {
    const rows = await this.rows(this.dialect.sql`
      SELECT DISTINCT partition FROM system.parts
      WHERE database = ${this.options.database} AND table = ${table} AND active`);
    return rows.map((r) => String(r['partition']));
  }

  /** Speed tables are partitioned by UTC day (intDiv(bucket, 86400000)): whole days are dropped. */
  protected async deleteSpeedBefore(dayStart: number): Promise<void> {
    const { sql } = this.dialect;
    const firstKeptDay = dayStart / INTERVAL_MS.day;
    for (const table of SPEED_TABLES) {
      for (const partition of await this.activePartitions(table)) {
        const day = Number(partition);
        if (Number.isInteger(day) && day < firstKeptDay) {
          await this.exec(sql`ALTER TABLE ${ident(table)} DROP PARTITION ${day}`);
        }
      }
    }
  }

  async dropBatchVersionsExcept(keep: readonly string[]): Promise<void> {
    const { sql } = this.dialect;
    for (const table of BATCH_VIEW_TABLES) {
      for (const partition of await this.activePartitions(table)) {
        // system.parts shows a String partition key quoted: '<batch id>'.
        const batchId = partition.replace(/^'(.*)'$/, '$1');
        if (keep.includes(batchId)) continue;
        await this.exec(sql`ALTER TABLE ${ident(table)} DROP PARTITION ${batchId}`);
      }
    }
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      const result = await this.admin.ping();
      return result.success;
    } catch {
      return false;
    }
  }

  /** Drops the whole database (tests). */
  async dropDatabase(): Promise<void> {
    try {
      await this.admin.command({ query: `DROP DATABASE IF EXISTS ${this.dialect.identifier(this.options.database)}` });
    } catch (err) {
      throw clickhouseError(err, 'drop database');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.client.close(), this.admin.close()]);
  }
}
