/**
 * ClickHouseViewStore: the production view store. The only module that talks to
 * ClickHouse; server and network errors become PlatformError here. Every call has a
 * deadline: a few seconds for reads, minutes for writes and the batch build (docs/view-store.md).
 *
 * Works with ClickHouse 18.16 (CI) and current versions: no query parameters, no
 * DateTime64, no LowCardinality; values reach SQL only through the dialect's escaping.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { PlatformError } from '../../core/errors.ts';
import { clickhouseDialect, ident, type SqlFragment } from '../sql-escape.ts';
import { INTERVAL_MS } from '../../core/time-buckets.ts';
import type { DialectFunctions, Row } from './sql-context.ts';
import { BATCH_VIEW_TABLES } from './sql-run-ledger.ts';
import { SPEED_TABLES } from './sql-speed-views.ts';
import { SqlViewStore } from './sql-view-store.ts';
import type { BatchCutoff, BuildPassListener, BuildStats, SpeedMinuteRow, SpeedRows } from './view-store.ts';

export interface ClickHouseViewStoreOptions {
  /** HTTP URL of the server, e.g. http://127.0.0.1:8123. */
  url: string;
  /** Database holding the platform's tables; created by migrate(). */
  database: string;
  /** @default 'default' */
  username?: string;
  /** @default '' */
  password?: string;
  /**
   * Deadline of each read (ms), from the call to the last row: waiting for a connection, the
   * request and the answer. A store that does not answer in time fails the call with a
   * retriable PV_STORE_UNAVAILABLE (HTTP 503). `npm start` sets it from CLICKHOUSE_REQUEST_TIMEOUT_MS.
   * @default 5000
   */
  requestTimeoutMs?: number;
  /**
   * Deadline of each call that may take long (ms): inserts, DDL and other statements, and the
   * reads of the batch build, of the raw copy's offsets and of speed-layer recovery. At least
   * `requestTimeoutMs`.
   * @default 300000
   */
  bulkRequestTimeoutMs?: number;
  /** Deadline of ping() (ms): a store that does not answer it in time is down (`/api/v1/ready` 503). @default 2000 */
  pingTimeoutMs?: number;
}

export const CLICKHOUSE_STORE_DEFAULTS = {
  username: 'default',
  password: '',
  requestTimeoutMs: 5000,
  bulkRequestTimeoutMs: 300_000,
  pingTimeoutMs: 2000,
} as const;

/** What users see when the store is down, slow or overloaded; the cause (for the log) says which. */
export const STORE_UNAVAILABLE_MESSAGE = 'the view store is unavailable; retry';

/** Error codes of Node's sockets and of undici: the server could not be reached or dropped the connection ("socket hang up" is ECONNRESET). */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** ClickHouse server error codes that mean "busy or out of time": the same call may succeed later. */
const OVERLOAD_CODES: ReadonlyMap<number, string> = new Map([
  [159, 'TIMEOUT_EXCEEDED'],
  [160, 'TOO_SLOW'],
  [202, 'TOO_MANY_SIMULTANEOUS_QUERIES'],
  [203, 'NO_FREE_CONNECTION'],
  [209, 'SOCKET_TIMEOUT'],
  [210, 'NETWORK_ERROR'],
  [241, 'MEMORY_LIMIT_EXCEEDED'],
  [252, 'TOO_MANY_PARTS'],
]);

/** A call that ran past its deadline: the store's own timer aborted it. */
export class StoreDeadlineError extends Error {
  constructor(
    readonly what: string,
    readonly deadlineMs: number,
    options?: ErrorOptions,
  ) {
    super(`ClickHouse ${what}: no answer within ${deadlineMs} ms`, options);
    this.name = 'StoreDeadlineError';
  }
}

/**
 * The server's error code. The client parses it into ClickHouseError only from the newer
 * servers' format, which ends in "(TYPE)"; 18.16 answers "Code: 60, e.displayText() =
 * DB::Exception: …" with no such suffix (and no X-ClickHouse-Exception-Code header), so the
 * client hands it over as a plain Error whose text starts with that code.
 */
export function serverErrorCode(err: unknown): number | undefined {
  if (err instanceof ClickHouseError) {
    const code = Number(err.code);
    return Number.isInteger(code) ? code : undefined;
  }
  if (!(err instanceof Error)) return undefined;
  const match = /^Code: (\d+)[.,] (?:e\.displayText\(\) = )?DB::Exception/.exec(err.message);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The client's own socket timeout (its request_timeout) rejects with a plain `Error("Timeout
 * error.")`: no name, no code, no class. Its text is the only mark, so it is checked here and
 * nowhere else. The store's own deadline (StoreDeadlineError) normally fires first: the
 * client's timeout is set to the longest deadline and only backs it up.
 */
function isClientSocketTimeout(err: unknown): boolean {
  return err instanceof Error && err.constructor === Error && err.message === 'Timeout error.';
}

/** Why a failure says nothing about the call itself (the store is down, slow or busy), or undefined. */
function unavailableReason(err: unknown): string | undefined {
  if (err instanceof StoreDeadlineError) return `timeout (${err.deadlineMs} ms)`;
  const e = err as { code?: unknown; name?: unknown };
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return e.code;
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  if (isClientSocketTimeout(err)) return 'timeout (client socket)';
  const code = serverErrorCode(err);
  const overload = code === undefined ? undefined : OVERLOAD_CODES.get(code);
  return overload === undefined ? undefined : `${overload} (${code})`;
}

/**
 * Converts a client or server error into the project's error, deciding retriability from
 * error classes and codes. A store that is down, slow or overloaded is a retriable
 * PV_STORE_UNAVAILABLE whose message is generic (it reaches users as a 503); what happened is in
 * its cause, for the log. Anything else (syntax, unknown table, a refused value) is a
 * non-retriable PV_STORE_QUERY_FAILED.
 */
export function clickhouseError(err: unknown, what: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const reason = unavailableReason(err);
  if (reason !== undefined) {
    const cause = err instanceof StoreDeadlineError ? err : new Error(`ClickHouse ${what}: ${reason}`, { cause: err });
    return new PlatformError('PV_STORE_UNAVAILABLE', STORE_UNAVAILABLE_MESSAGE, { cause, retriable: true });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new PlatformError('PV_STORE_QUERY_FAILED', `ClickHouse ${what} failed: ${message}`, { cause: err });
}

function checkDeadline(option: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new PlatformError('PV_CONFIG_INVALID', `ClickHouse view store option '${option}' must be a whole number of ms of at least 1, got ${String(value)}`);
  }
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
  private readonly deadlines: { read: number; bulk: number; ping: number };
  /** Set while a long operation runs: its reads get the bulk deadline (see {@link long}). */
  private readonly longOperation = new AsyncLocalStorage<true>();
  private closed = false;

  constructor(private readonly options: ClickHouseViewStoreOptions) {
    super();
    const d = CLICKHOUSE_STORE_DEFAULTS;
    this.deadlines = {
      read: options.requestTimeoutMs ?? d.requestTimeoutMs,
      bulk: options.bulkRequestTimeoutMs ?? Math.max(d.bulkRequestTimeoutMs, options.requestTimeoutMs ?? 0),
      ping: options.pingTimeoutMs ?? d.pingTimeoutMs,
    };
    checkDeadline('requestTimeoutMs', this.deadlines.read);
    checkDeadline('bulkRequestTimeoutMs', this.deadlines.bulk);
    checkDeadline('pingTimeoutMs', this.deadlines.ping);
    if (this.deadlines.bulk < this.deadlines.read) {
      throw new PlatformError(
        'PV_CONFIG_INVALID',
        `ClickHouse view store option 'bulkRequestTimeoutMs' (${this.deadlines.bulk}) must be at least 'requestTimeoutMs' (${this.deadlines.read}); raise it or lower requestTimeoutMs`,
      );
    }
    const common = {
      url: options.url,
      username: options.username ?? d.username,
      password: options.password ?? d.password,
      // The client's timeout is a socket idle timeout that starts only once a socket is free; the
      // deadlines are the store's own (see withDeadline()). This one only backs them up, so it must not
      // cut a long call short: it is the longest deadline.
      request_timeout: this.deadlines.bulk,
      // 18.16 knows none of the newer settings some client defaults would send.
      clickhouse_settings: {},
      compression: { request: false, response: false },
      // A free keep-alive socket idle past its TTL (2.5 s, under the server's 3 s keep_alive_timeout)
      // is dropped before each request by its age, not only by a timer: on a busy event loop (the
      // batch raw copy decoding while its inserts run on several sockets) the timer fires late and a
      // socket the server already closed was reused (EPIPE; clickhouse-js#294).
      keep_alive: { enabled: true, eagerly_destroy_stale_sockets: true },
      // Failures reach callers as PlatformErrors (and are logged there); the client's own
      // console logging would only repeat them.
      log: { level: ClickHouseLogLevel.OFF },
    };
    this.client = createClient({ ...common, database: options.database });
    // The database may not exist yet: migrate() creates it through a client bound to `default`.
    this.admin = createClient({ ...common, database: 'default' });
  }

  private check(): void {
    if (this.closed) {
      throw new PlatformError('PV_STORE_UNAVAILABLE', STORE_UNAVAILABLE_MESSAGE, { cause: new Error('the ClickHouse view store is closed'), retriable: true });
    }
  }

  /** The deadline of a read: the bulk one inside a long operation, the read one otherwise. */
  private readDeadline(): number {
    return this.longOperation.getStore() === true ? this.deadlines.bulk : this.deadlines.read;
  }

  /** Runs `operation` with the bulk deadline for its reads (the batch build, recovery). */
  private long<T>(operation: () => Promise<T>): Promise<T> {
    return this.longOperation.run(true, operation);
  }

  /** One call to the client on an open store, under a deadline (see {@link withDeadline}). */
  private async call<T>(what: string, deadlineMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.check();
    return this.withDeadline(what, deadlineMs, run);
  }

  /**
   * Runs a client call under a deadline: an abort signal fired by the store's own timer covers
   * waiting for a socket, the request and reading the whole answer. The client's
   * request_timeout alone would not: it is a socket idle timeout, armed only once a socket is
   * free, so calls queued behind a hung server would wait without bound. Failures are converted
   * by clickhouseError; past the deadline, as a StoreDeadlineError.
   */
  private async withDeadline<T>(what: string, deadlineMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), deadlineMs);
    try {
      return await run(controller.signal);
    } catch (err) {
      throw clickhouseError(controller.signal.aborted ? new StoreDeadlineError(what, deadlineMs, { cause: err }) : err, what);
    } finally {
      clearTimeout(timer);
    }
  }

  protected async ensureDatabase(): Promise<void> {
    const query = `CREATE DATABASE IF NOT EXISTS ${this.dialect.identifier(this.options.database)}`;
    await this.call('create database', this.deadlines.bulk, (abort_signal) => this.admin.command({ query, abort_signal }));
  }

  protected migrationsTableDdl(): string {
    return 'CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at Int64) ENGINE = MergeTree() ORDER BY version';
  }

  /** Statements (DDL, INSERT … SELECT of the batch build, partition drops) may take long: the bulk deadline. */
  protected async exec(statement: SqlFragment | string): Promise<void> {
    const query = typeof statement === 'string' ? statement : statement.text;
    await this.call('statement', this.deadlines.bulk, (abort_signal) => this.client.command({ query, abort_signal }));
  }

  protected async rows(query: SqlFragment): Promise<Row[]> {
    const deadline = this.readDeadline();
    return this.call('query', deadline, async (abort_signal) => {
      const result = await this.client.query({
        query: query.text,
        format: 'JSONEachRow',
        abort_signal,
        // The server keeps running a query whose client gave up (18.16 does not cancel it on
        // disconnect): give it the same deadline, so an abandoned read stops there too.
        clickhouse_settings: { max_execution_time: Math.ceil(deadline / 1000) },
      });
      return result.json<Row>();
    });
  }

  /** Inserts can be large (the raw copy): the bulk deadline. */
  protected async insert(table: string, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) {
      this.check();
      return;
    }
    // One INSERT is one block: atomic for up to max_insert_block_size (1,048,576) rows.
    await this.call(`insert into ${table}`, this.deadlines.bulk, (abort_signal) =>
      this.client.insert({ table, values: rows as Row[], format: 'JSONEachRow', abort_signal }),
    );
  }

  // Long operations: their reads scan the raw copy or a partition's speed state.
  override buildBatchViews(batchId: string, cutoff: BatchCutoff, onPass?: BuildPassListener): Promise<BuildStats> {
    return this.long(() => super.buildBatchViews(batchId, cutoff, onPass));
  }
  override rawCopyEndOffsets(): Promise<Map<number, number>> {
    return this.long(() => super.rawCopyEndOffsets());
  }
  override speedPartitionRows(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedMinuteRow[]> {
    return this.long(() => super.speedPartitionRows(partition, maxVersion, fromBucket));
  }
  override speedPartitionState(partition: number, maxVersion: number, fromBucket: number): Promise<SpeedRows> {
    return this.long(() => super.speedPartitionState(partition, maxVersion, fromBucket));
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

  async dropVisitorSaltsBefore(day: number): Promise<void> {
    const { sql } = this.dialect;
    for (const partition of await this.activePartitions('visitor_salts')) {
      const saltDay = Number(partition);
      if (Number.isInteger(saltDay) && saltDay < day) await this.exec(sql`ALTER TABLE visitor_salts DROP PARTITION ${saltDay}`);
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

  /** True when the server answers /ping within the ping deadline. */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      // The client's ping reports a failure, an abort included, as `success: false`.
      return await this.withDeadline('ping', this.deadlines.ping, async (abort_signal) => (await this.admin.ping({ select: false, abort_signal })).success);
    } catch {
      return false;
    }
  }

  /** Drops the whole database (tests; also after close(), as test cleanups do). */
  async dropDatabase(): Promise<void> {
    const query = `DROP DATABASE IF EXISTS ${this.dialect.identifier(this.options.database)}`;
    await this.withDeadline('drop database', this.deadlines.bulk, (abort_signal) => this.admin.command({ query, abort_signal }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.client.close(), this.admin.close()]);
  }
}
