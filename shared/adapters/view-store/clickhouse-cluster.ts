/**
 * The project's ClickHouse schema (sql/clickhouse/, as loadMigrations reads it) rendered for a
 * ClickHouse cluster (docs/batch-layer.md, "Cluster deployment"): every table created
 * `ON CLUSTER` with its `*MergeTree` engine turned into the `Replicated*MergeTree` form, every
 * ALTER and DROP run `ON CLUSTER`, and beside each sharded table a `Distributed` table `<table>_all`
 * that reads and writes across the shards.
 *
 * Statements are parsed structurally (tokens, balanced parentheses, known clauses) and anything
 * this renderer does not know is refused with an error naming the statement, so a future
 * migration cannot silently produce wrong cluster DDL: teach the renderer, or the migration
 * stays single-node. Uses only syntax ClickHouse 18.16 and current versions share; it has run on
 * 18.16 only (a one-node cluster: test/shared/adapters/view-store/clickhouse-cluster-server.test.ts).
 */
import { clickhouseDialect } from '../sql-escape.ts';
import { PlatformError } from '../../core/errors.ts';
import type { Migration } from './migrations.ts';

/**
 * Where a table's rows live on a cluster: spread over the shards by a sharding key (each shard's
 * replicas hold its part; `<table>_all` reads them all), or whole on every node (one
 * replication path for the cluster; no Distributed table, which would read each copy once per
 * shard).
 */
export type Placement = { shardingKey: string } | { onEveryNode: true };

/**
 * Raw events are sharded by a hash of visitor_id: redeliveries of one event (same visitor) and
 * all of a visitor's events are on one shard, so the build's deduplication by event id, its
 * exact visitors per (site, page, day) and its sessions per (site, visitor) are shard-local, and
 * page views add across shards. Every table that holds visitors follows the same key. A key of
 * the row's own columns (never rand()) splits a retried insert the same way, so each shard's
 * replicated block deduplication recognizes it.
 */
export const TABLE_PLACEMENT: Readonly<Record<string, Placement>> = {
  schema_migrations: { onEveryNode: true },
  // The raw copy. A position copied twice is the same event, so the same visitor and shard:
  // ReplacingMergeTree's replacement by (log_partition, log_offset) stays shard-local.
  raw_events: { shardingKey: 'cityHash64(visitor_id)' },
  // Invalid records have no visitor; by position, so a record copied twice is replaced on its shard.
  raw_invalid: { shardingKey: 'cityHash64(log_partition, log_offset)' },
  // The speed layer's state is per log partition (versions, checkpoints, open sessions): a
  // partition's rows stay together, so taking the highest version per key is shard-local.
  speed_page_minute: { shardingKey: 'cityHash64(log_partition)' },
  speed_checkpoints: { shardingKey: 'cityHash64(log_partition)' },
  speed_overflow_minute: { shardingKey: 'cityHash64(log_partition)' },
  speed_visitors: { shardingKey: 'cityHash64(log_partition)' },
  speed_session_minute: { shardingKey: 'cityHash64(log_partition)' },
  speed_open_sessions: { shardingKey: 'cityHash64(log_partition)' },
  // Tiny and read whole by every collector, speed and serving instance.
  speed_retention: { onEveryNode: true },
  visitor_salts: { onEveryNode: true },
  // The run ledger: a few rows per run, and the boundary every reader needs.
  batch_runs: { onEveryNode: true },
  // Batch views built per shard: each shard's rows are its visitors' part of a key's counts,
  // which readers sum; the visitor rows stay with their visitor.
  batch_page_hour: { shardingKey: 'cityHash64(site, page_id, bucket)' },
  batch_page_day: { shardingKey: 'cityHash64(site, page_id, bucket)' },
  batch_site_hour: { shardingKey: 'cityHash64(site, bucket)' },
  batch_site_day: { shardingKey: 'cityHash64(site, bucket)' },
  batch_visitors_day: { shardingKey: 'cityHash64(visitor_id)' },
  batch_session_hour: { shardingKey: 'cityHash64(site, page_id, bucket)' },
  batch_session_day: { shardingKey: 'cityHash64(site, page_id, bucket)' },
  // The build's staging tables, filled and read on each shard.
  batch_pass_events: { shardingKey: 'cityHash64(visitor_id)' },
  // Created by migration 008, dropped by 010 (sessions read batch_pass_events since issue #19).
  batch_session_events: { shardingKey: 'cityHash64(visitor_id)' },
  batch_pass_sessions: { shardingKey: 'cityHash64(site, session_start)' },
};

/**
 * The migrations ledger, as ClickHouseViewStore.migrationsTableDdl() creates it on one node
 * (test/shared/adapters/view-store/clickhouse-cluster.test.ts keeps the two equal). The cluster
 * DDL creates it too and records each migration in it, so the store's migrate() on any node
 * finds them applied and runs none of them again.
 */
export const SCHEMA_MIGRATIONS_DDL =
  'CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at Int64) ENGINE = MergeTree() ORDER BY version';

/** A `<remote_servers>` cluster name, a database or a table: plain names only, as they also appear in ZooKeeper paths. */
export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The Distributed table over a sharded table. */
export function distributedTableName(table: string): string {
  return `${table}_all`;
}

export interface ClusterDdlOptions {
  /** The cluster's name in the servers' `<remote_servers>`. */
  cluster: string;
  /** The database holding the platform's tables (the store's `database`). */
  database: string;
}

/** One migration's statements for the cluster, ending with the insert that records it in schema_migrations. */
export interface ClusterMigration {
  version: number;
  name: string;
  statements: string[];
}

export interface ClusterDdl {
  /** CREATE DATABASE and the schema_migrations table: idempotent, for a new cluster and an upgraded one alike. */
  setup: string[];
  migrations: ClusterMigration[];
}

/** The MergeTree engines the renderer replicates, with how many arguments each takes (replicated after the path and replica). */
const MERGE_TREE_ARGUMENTS: ReadonlyMap<string, { min: number; max: number }> = new Map([
  ['MergeTree', { min: 0, max: 0 }],
  ['ReplacingMergeTree', { min: 0, max: 1 }],
  ['SummingMergeTree', { min: 0, max: 1 }],
  ['AggregatingMergeTree', { min: 0, max: 0 }],
  ['CollapsingMergeTree', { min: 1, max: 1 }],
  ['VersionedCollapsingMergeTree', { min: 2, max: 2 }],
]);

/** Table clauses after the engine that are the same for the replicated table; each is kept as written. */
const TABLE_CLAUSES = ['PARTITION BY', 'ORDER BY', 'PRIMARY KEY', 'SAMPLE BY', 'SETTINGS'];
/**
 * Words that start a clause the renderer does not pass on: a refusal, rather than a clause
 * swallowed by the one before it (`AS SELECT` and `POPULATE` would fill each node's table).
 */
const UNKNOWN_CLAUSE_WORDS = new Set(['TTL', 'COMMENT', 'AS', 'POPULATE']);

/** Column changes: the same on the replicated table, and mirrored by re-creating its Distributed table. */
const ALTER_ACTIONS = ['ADD COLUMN', 'DROP COLUMN', 'MODIFY COLUMN'];

interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'punct';
  text: string;
  start: number;
  end: number;
}

const TOKEN_RE = /\s+|(?<word>[A-Za-z_][A-Za-z0-9_]*)|(?<number>\d+(?:\.\d+)?)|(?<quoted>`(?:[^`\\]|\\.)*`)|(?<string>'(?:[^'\\]|\\.)*')|(?<punct>[(),=.*+\-/<>!%|:;[\]])/y;

/** A statement the renderer refuses: the message names it. */
class Refusal extends Error {}

function tokenize(statement: string): Token[] {
  const tokens: Token[] = [];
  TOKEN_RE.lastIndex = 0;
  while (TOKEN_RE.lastIndex < statement.length) {
    const start = TOKEN_RE.lastIndex;
    const match = TOKEN_RE.exec(statement);
    if (match === null) throw new Refusal(`unexpected character ${JSON.stringify(statement[start])} at ${start}`);
    const groups = match.groups ?? {};
    const kind = (['word', 'number', 'quoted', 'string', 'punct'] as const).find((k) => groups[k] !== undefined);
    if (kind !== undefined) tokens.push({ kind, text: match[0], start, end: TOKEN_RE.lastIndex });
  }
  return tokens;
}

/** Reads tokens in order; every expectation that fails is a Refusal saying what was expected. */
class Cursor {
  private at = 0;
  constructor(
    private readonly statement: string,
    private readonly tokens: Token[],
  ) {}

  get done(): boolean {
    return this.at >= this.tokens.length;
  }

  peek(offset = 0): Token | undefined {
    return this.tokens[this.at + offset];
  }

  /** Whether the next tokens are these words (case-insensitive), without consuming them. */
  isWords(words: string): boolean {
    return words.split(' ').every((w, i) => {
      const t = this.peek(i);
      return t?.kind === 'word' && t.text.toUpperCase() === w;
    });
  }

  acceptWords(words: string): boolean {
    if (!this.isWords(words)) return false;
    this.at += words.split(' ').length;
    return true;
  }

  expectWords(words: string): void {
    if (!this.acceptWords(words)) throw new Refusal(`expected ${words} ${this.where()}`);
  }

  expectPunct(text: string): Token {
    const t = this.peek();
    if (t?.kind !== 'punct' || t.text !== text) throw new Refusal(`expected "${text}" ${this.where()}`);
    this.at += 1;
    return t;
  }

  /** A plain table name, not qualified by a database (the renderer qualifies it). */
  tableName(): string {
    const t = this.peek();
    if (t?.kind !== 'word' || !NAME_RE.test(t.text)) throw new Refusal(`expected a plain table name ${this.where()}`);
    this.at += 1;
    if (this.peek()?.text === '.') throw new Refusal(`the table name ${t.text}.${this.peek(1)?.text ?? ''} is qualified; migrations name tables without a database`);
    return t.text;
  }

  /** After an opening parenthesis: the text up to its closing one (consumed). */
  parenthesized(open: Token): string {
    let depth = 1;
    while (!this.done) {
      const t = this.tokens[this.at]!;
      this.at += 1;
      if (t.kind === 'punct' && t.text === '(') depth += 1;
      if (t.kind === 'punct' && t.text === ')') depth -= 1;
      if (depth === 0) return this.statement.slice(open.end, t.start).trim();
    }
    throw new Refusal(`unbalanced parentheses after ${JSON.stringify(this.statement.slice(0, open.end))}`);
  }

  /** The tokens not read yet (consumed). */
  rest(): Token[] {
    const rest = this.tokens.slice(this.at);
    this.at = this.tokens.length;
    return rest;
  }

  where(): string {
    const t = this.peek();
    return t === undefined ? 'at the end' : `at ${JSON.stringify(this.statement.slice(t.start, t.start + 40))}`;
  }
}

interface CreateTable {
  kind: 'create';
  table: string;
  columns: string;
  engine: string;
  engineArguments: string[];
  clauses: string[];
}

interface AlterTable {
  kind: 'alter';
  table: string;
  actions: string[];
}

interface DropTable {
  kind: 'drop';
  table: string;
}

/** Whether the words of `phrase` (upper case) start at tokens[i]. */
function phraseAt(tokens: readonly Token[], i: number, phrase: string): boolean {
  return phrase.split(' ').every((w, k) => {
    const t = tokens[i + k];
    return t?.kind === 'word' && t.text.toUpperCase() === w;
  });
}

/**
 * Splits tokens into parts at top-level (outside parentheses) boundaries, each part as written.
 * `boundary` says whether tokens[i] starts a new part ('start', kept) or separates two ('separator', dropped).
 */
function splitTopLevel(statement: string, tokens: readonly Token[], boundary: (i: number) => 'start' | 'separator' | undefined): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  const close = (to: number): void => {
    const first = tokens[from];
    const last = tokens[to - 1];
    if (first === undefined || last === undefined || to <= from) throw new Refusal(`empty part in ${JSON.stringify(statement.slice(tokens[0]?.start ?? 0))}`);
    parts.push(statement.slice(first.start, last.end));
  };
  tokens.forEach((t, i) => {
    const kind = depth === 0 ? boundary(i) : undefined;
    if (kind === 'start' && i > from) {
      close(i);
      from = i;
    } else if (kind === 'separator') {
      close(i);
      from = i + 1;
    }
    if (t.kind === 'punct' && t.text === '(') depth += 1;
    if (t.kind === 'punct' && t.text === ')') depth -= 1;
  });
  if (tokens.length > 0) close(tokens.length);
  return parts;
}

function commaSeparated(statement: string, tokens: readonly Token[]): string[] {
  return splitTopLevel(statement, tokens, (i) => (tokens[i]?.kind === 'punct' && tokens[i]?.text === ',' ? 'separator' : undefined));
}

function parseCreate(statement: string, cursor: Cursor): CreateTable {
  cursor.expectWords('CREATE TABLE');
  cursor.acceptWords('IF NOT EXISTS');
  const table = cursor.tableName();
  const columns = cursor.parenthesized(cursor.expectPunct('('));
  cursor.expectWords('ENGINE');
  cursor.expectPunct('=');
  const engineToken = cursor.peek();
  const engine = engineToken?.kind === 'word' ? engineToken.text : '';
  const argumentCount = MERGE_TREE_ARGUMENTS.get(engine);
  if (argumentCount === undefined) {
    throw new Refusal(`engine ${JSON.stringify(engine)} is not one the renderer replicates (${[...MERGE_TREE_ARGUMENTS.keys()].join(', ')})`);
  }
  cursor.expectWords(engine.toUpperCase());
  const argumentText = cursor.parenthesized(cursor.expectPunct('('));
  const engineArguments = commaSeparated(argumentText, tokenize(argumentText));
  if (engineArguments.length < argumentCount.min || engineArguments.length > argumentCount.max) {
    const count = argumentCount.min === argumentCount.max ? String(argumentCount.min) : `${argumentCount.min} to ${argumentCount.max}`;
    throw new Refusal(`${engine}(${argumentText}) takes ${count} arguments here (the old syntax, with the keys among the engine's arguments, is not rendered: write PARTITION BY and ORDER BY)`);
  }
  const rest = cursor.rest();
  const clauseAt = (i: number): string | undefined => TABLE_CLAUSES.find((clause) => phraseAt(rest, i, clause));
  const unknownAt = (i: number): boolean => rest[i]?.kind === 'word' && UNKNOWN_CLAUSE_WORDS.has(rest[i]!.text.toUpperCase());
  const clauses = splitTopLevel(statement, rest, (i) => (clauseAt(i) !== undefined || unknownAt(i) ? 'start' : undefined));
  for (const clause of clauses) {
    const clauseTokens = tokenize(clause);
    if (TABLE_CLAUSES.some((known) => phraseAt(clauseTokens, 0, known))) continue;
    const word = clauseTokens[0]?.text.toUpperCase() ?? '';
    const why = UNKNOWN_CLAUSE_WORDS.has(word) ? `the ${word} clause is not rendered` : `expected a table clause at ${JSON.stringify(clause.slice(0, 40))}`;
    throw new Refusal(`${why} (known: ${TABLE_CLAUSES.join(', ')})`);
  }
  if (!clauses.some((clause) => phraseAt(tokenize(clause), 0, 'ORDER BY'))) throw new Refusal(`${engine} table ${table} has no ORDER BY`);
  return { kind: 'create', table, columns, engine, engineArguments, clauses };
}

function parseAlter(statement: string, cursor: Cursor): AlterTable {
  cursor.expectWords('ALTER TABLE');
  const table = cursor.tableName();
  if (cursor.isWords('ON CLUSTER')) throw new Refusal('the migration already says ON CLUSTER; migrations are written for one node');
  const actions = commaSeparated(statement, cursor.rest());
  if (actions.length === 0) throw new Refusal('ALTER TABLE without an action');
  for (const action of actions) {
    if (!ALTER_ACTIONS.some((known) => phraseAt(tokenize(action), 0, known))) {
      throw new Refusal(`the ALTER action ${JSON.stringify(action.slice(0, 60))} is not rendered (known: ${ALTER_ACTIONS.join(', ')})`);
    }
  }
  return { kind: 'alter', table, actions };
}

function parseDrop(cursor: Cursor): DropTable {
  cursor.expectWords('DROP TABLE');
  cursor.acceptWords('IF EXISTS');
  const table = cursor.tableName();
  if (cursor.isWords('ON CLUSTER')) throw new Refusal('the migration already says ON CLUSTER; migrations are written for one node');
  if (cursor.rest().length > 0) throw new Refusal(`expected the end of DROP TABLE ${table}`);
  return { kind: 'drop', table };
}

function parseStatement(statement: string): CreateTable | AlterTable | DropTable {
  const tokens = tokenize(statement);
  const cursor = new Cursor(statement, tokens);
  if (cursor.isWords('CREATE TABLE')) return parseCreate(statement, cursor);
  if (cursor.isWords('ALTER TABLE')) return parseAlter(statement, cursor);
  if (cursor.isWords('DROP TABLE')) return parseDrop(cursor);
  throw new Refusal('only CREATE TABLE, ALTER TABLE … ADD/DROP/MODIFY COLUMN and DROP TABLE are rendered for a cluster');
}

function checkName(option: string, value: string): void {
  if (!NAME_RE.test(value)) {
    throw new PlatformError('PV_CONFIG_INVALID', `cluster DDL option '${option}' must be a plain name (letters, digits and '_', not starting with a digit), got ${JSON.stringify(value)}`);
  }
}

/** Renders statements for a cluster, knowing the tables created so far (a table's placement decides its ALTERs). */
class ClusterRenderer {
  private readonly created = new Set<string>();
  constructor(private readonly options: ClusterDdlOptions) {}

  private qualified(table: string): string {
    return `${this.options.database}.${table}`;
  }

  private onCluster(): string {
    return `ON CLUSTER ${this.options.cluster}`;
  }

  private placement(table: string): Placement {
    const placement = TABLE_PLACEMENT[table];
    if (placement === undefined) {
      throw new Refusal(`table ${table} has no placement in TABLE_PLACEMENT (shared/adapters/view-store/clickhouse-cluster.ts): give it a sharding key, or put it on every node`);
    }
    return placement;
  }

  private distributedTable(table: string, shardingKey: string): string {
    const { cluster, database } = this.options;
    return `CREATE TABLE IF NOT EXISTS ${this.qualified(distributedTableName(table))} ${this.onCluster()} AS ${this.qualified(table)} ENGINE = Distributed(${cluster}, ${database}, ${table}, ${shardingKey})`;
  }

  render(statement: string): string[] {
    const parsed = parseStatement(statement);
    const placement = this.placement(parsed.table);
    if (parsed.kind === 'create') {
      if (this.created.has(parsed.table)) throw new Refusal(`table ${parsed.table} is created a second time`);
      this.created.add(parsed.table);
      // One replication path per shard for sharded tables; one for the whole cluster otherwise.
      const shard = 'shardingKey' in placement ? '{shard}' : 'all';
      const path = clickhouseDialect.literal(`/clickhouse/tables/${shard}/${this.options.database}/${parsed.table}`);
      const engineArguments = [path, clickhouseDialect.literal('{replica}'), ...parsed.engineArguments].join(', ');
      const table =
        `CREATE TABLE IF NOT EXISTS ${this.qualified(parsed.table)} ${this.onCluster()} (\n  ${parsed.columns}\n) ` +
        `ENGINE = Replicated${parsed.engine}(${engineArguments}) ${parsed.clauses.join(' ')}`;
      return 'shardingKey' in placement ? [table, this.distributedTable(parsed.table, placement.shardingKey)] : [table];
    }
    if (!this.created.has(parsed.table)) throw new Refusal(`table ${parsed.table} is ${parsed.kind === 'drop' ? 'dropped' : 'altered'} before it is created`);
    if (parsed.kind === 'drop') {
      this.created.delete(parsed.table);
      const drop = `DROP TABLE IF EXISTS ${this.qualified(parsed.table)} ${this.onCluster()}`;
      // Its Distributed table first: it reads the table being dropped.
      return 'shardingKey' in placement ? [`DROP TABLE IF EXISTS ${this.qualified(distributedTableName(parsed.table))} ${this.onCluster()}`, drop] : [drop];
    }
    const alter = `ALTER TABLE ${this.qualified(parsed.table)} ${this.onCluster()}\n  ${parsed.actions.join(",\n  ")}`;
    if (!('shardingKey' in placement)) return [alter];
    // ClickHouse 18.16 refuses ALTER … ON CLUSTER of a table that is not replicated (the
    // Distributed one) when the shards use internal_replication. A Distributed table holds no
    // rows of its own, so it is created again over the altered table instead.
    return [alter, `DROP TABLE IF EXISTS ${this.qualified(distributedTableName(parsed.table))} ${this.onCluster()}`, this.distributedTable(parsed.table, placement.shardingKey)];
  }

  /** The insert that records a migration as applied, replicated to every node with schema_migrations. */
  recorded(migration: Migration): string {
    const { literal } = clickhouseDialect;
    return `INSERT INTO ${this.qualified('schema_migrations')} (version, name, applied_at) SELECT ${literal(migration.version)}, ${literal(migration.name)}, toInt64(toUInt32(now())) * 1000`;
  }
}

/** What `render` renders of `statement`, or a PV_CONFIG_INVALID naming it (`where`) and the reason. */
function renderOrRefuse(render: () => string[], where: string, statement: string): string[] {
  try {
    return render();
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    const firstLine = statement.split('\n')[0] ?? '';
    throw new PlatformError('PV_CONFIG_INVALID', `cannot render ${where} for a cluster (${JSON.stringify(firstLine.slice(0, 80))}): ${err.message}`);
  }
}

/**
 * The schema for a cluster: `migrations` (loadMigrations('clickhouse'), in order) rendered
 * statement by statement. Throws a PV_CONFIG_INVALID naming the migration and statement the
 * renderer does not know.
 */
export function clusterDdl(migrations: readonly Migration[], options: ClusterDdlOptions): ClusterDdl {
  checkName('cluster', options.cluster);
  checkName('database', options.database);
  const renderer = new ClusterRenderer(options);
  const setup = [
    `CREATE DATABASE IF NOT EXISTS ${options.database} ON CLUSTER ${options.cluster}`,
    ...renderOrRefuse(() => renderer.render(SCHEMA_MIGRATIONS_DDL), 'the schema_migrations table', SCHEMA_MIGRATIONS_DDL),
  ];
  return {
    setup,
    migrations: migrations.map((migration) => {
      const file = `${String(migration.version).padStart(3, '0')}_${migration.name}.sql`;
      const statements = migration.statements.flatMap((statement, i) => renderOrRefuse(() => renderer.render(statement), `statement ${i + 1} of ${file}`, statement));
      return { version: migration.version, name: migration.name, statements: [...statements, renderer.recorded(migration)] };
    }),
  };
}

/**
 * The DDL as a script for `clickhouse-client --multiquery`: the setup, then each migration after
 * `afterVersion` (those a cluster that has applied it still needs; all by default) under a
 * comment naming it.
 */
export function clusterDdlScript(ddl: ClusterDdl, afterVersion = 0): string {
  const sections = [
    `-- Setup (idempotent)\n${ddl.setup.map((s) => `${s};`).join('\n\n')}`,
    ...ddl.migrations
      .filter((m) => m.version > afterVersion)
      .map((m) => `-- ${String(m.version).padStart(3, '0')}_${m.name}\n${m.statements.map((s) => `${s};`).join('\n\n')}`),
  ];
  return `${sections.join('\n\n')}\n`;
}
