/**
 * The cluster renderer without a server: table by table, statement by statement, and every
 * refusal names what it refused. test/shared/adapters/view-store/clickhouse-cluster-server.test.ts
 * applies the output to a real one-node cluster.
 */
import { describe, expect, it } from 'vitest';
import { isPlatformError } from '../../../../shared/core/errors.ts';
import {
  SCHEMA_MIGRATIONS_DDL,
  TABLE_PLACEMENT,
  clusterDdl,
  clusterDdlScript,
  type ClusterDdlOptions,
} from '../../../../shared/adapters/view-store/clickhouse-cluster.ts';
import { ClickHouseViewStore } from '../../../../shared/adapters/view-store/index.ts';
import { loadMigrations, type Migration } from '../../../../shared/adapters/view-store/migrations.ts';

const OPTIONS: ClusterDdlOptions = { cluster: 'analytics', database: 'pv' };

/** The statements one migration of `statements` renders to, without the insert that records it. */
function rendered(...statements: string[]): string[] {
  const ddl = clusterDdl([{ version: 1, name: 'test', statements }], OPTIONS);
  return ddl.migrations[0]!.statements.slice(0, -1);
}

/** The message of the refusal of `statements`. */
function refusal(...statements: string[]): string {
  try {
    rendered(...statements);
  } catch (err) {
    expect(isPlatformError(err) && err.code === 'PV_CONFIG_INVALID', String(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

const RAW_EVENTS = `CREATE TABLE IF NOT EXISTS raw_events (
  log_partition Int32,
  visitor_id String
) ENGINE = ReplacingMergeTree() ORDER BY (log_partition, log_offset)`;

describe('cluster DDL: tables', () => {
  it.each([
    {
      what: 'a MergeTree table sharded by its key, with its Distributed table',
      statement: 'CREATE TABLE IF NOT EXISTS batch_page_hour (batch_id String, views UInt64) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, page_id, bucket)',
      expected: [
        "CREATE TABLE IF NOT EXISTS pv.batch_page_hour ON CLUSTER analytics (\n  batch_id String, views UInt64\n) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/pv/batch_page_hour', '{replica}') PARTITION BY batch_id ORDER BY (site, page_id, bucket)",
        'CREATE TABLE IF NOT EXISTS pv.batch_page_hour_all ON CLUSTER analytics AS pv.batch_page_hour ENGINE = Distributed(analytics, pv, batch_page_hour, cityHash64(site, page_id, bucket))',
      ],
    },
    {
      what: 'raw events sharded by visitor',
      statement: RAW_EVENTS,
      expected: [
        "CREATE TABLE IF NOT EXISTS pv.raw_events ON CLUSTER analytics (\n  log_partition Int32,\n  visitor_id String\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/pv/raw_events', '{replica}') ORDER BY (log_partition, log_offset)",
        'CREATE TABLE IF NOT EXISTS pv.raw_events_all ON CLUSTER analytics AS pv.raw_events ENGINE = Distributed(analytics, pv, raw_events, cityHash64(visitor_id))',
      ],
    },
    {
      what: "ReplacingMergeTree's version column kept after the path and replica",
      statement: 'create table speed_checkpoints (log_partition Int32, version UInt64) engine = ReplacingMergeTree(version) ORDER BY log_partition',
      expected: [
        "CREATE TABLE IF NOT EXISTS pv.speed_checkpoints ON CLUSTER analytics (\n  log_partition Int32, version UInt64\n) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/pv/speed_checkpoints', '{replica}', version) ORDER BY log_partition",
        'CREATE TABLE IF NOT EXISTS pv.speed_checkpoints_all ON CLUSTER analytics AS pv.speed_checkpoints ENGINE = Distributed(analytics, pv, speed_checkpoints, cityHash64(log_partition))',
      ],
    },
    {
      what: 'a table on every node: one replication path for the cluster, no Distributed table',
      statement: 'CREATE TABLE IF NOT EXISTS batch_runs (batch_id String, recorded_at Int64) ENGINE = MergeTree() ORDER BY (batch_id, recorded_at)',
      expected: [
        "CREATE TABLE IF NOT EXISTS pv.batch_runs ON CLUSTER analytics (\n  batch_id String, recorded_at Int64\n) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/pv/batch_runs', '{replica}') ORDER BY (batch_id, recorded_at)",
      ],
    },
    {
      what: 'parentheses, strings and SETTINGS passed on as written',
      statement: "CREATE TABLE speed_visitors (a Array(UInt64), s String DEFAULT 'x, (y)') ENGINE = SummingMergeTree((a)) PARTITION BY intDiv(bucket, 86400000) ORDER BY (site, bucket) SETTINGS index_granularity = 8192",
      expected: [
        "CREATE TABLE IF NOT EXISTS pv.speed_visitors ON CLUSTER analytics (\n  a Array(UInt64), s String DEFAULT 'x, (y)'\n) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/pv/speed_visitors', '{replica}', (a)) PARTITION BY intDiv(bucket, 86400000) ORDER BY (site, bucket) SETTINGS index_granularity = 8192",
        'CREATE TABLE IF NOT EXISTS pv.speed_visitors_all ON CLUSTER analytics AS pv.speed_visitors ENGINE = Distributed(analytics, pv, speed_visitors, cityHash64(log_partition))',
      ],
    },
  ])('$what', ({ statement, expected }) => {
    expect(rendered(statement)).toEqual(expected);
  });
});

describe('cluster DDL: column changes', () => {
  it('alters a sharded table on the cluster, then creates its Distributed table again over the new columns', () => {
    expect(rendered(RAW_EVENTS, "ALTER TABLE raw_events ADD COLUMN source String DEFAULT '', DROP COLUMN referrer, MODIFY COLUMN device String DEFAULT 'x'").slice(2)).toEqual([
      "ALTER TABLE pv.raw_events ON CLUSTER analytics\n  ADD COLUMN source String DEFAULT '',\n  DROP COLUMN referrer,\n  MODIFY COLUMN device String DEFAULT 'x'",
      'DROP TABLE IF EXISTS pv.raw_events_all ON CLUSTER analytics',
      'CREATE TABLE IF NOT EXISTS pv.raw_events_all ON CLUSTER analytics AS pv.raw_events ENGINE = Distributed(analytics, pv, raw_events, cityHash64(visitor_id))',
    ]);
  });

  it('drops a sharded table on the cluster after its Distributed table; a table on every node alone', () => {
    expect(rendered(RAW_EVENTS, 'DROP TABLE IF EXISTS raw_events').slice(2)).toEqual([
      'DROP TABLE IF EXISTS pv.raw_events_all ON CLUSTER analytics',
      'DROP TABLE IF EXISTS pv.raw_events ON CLUSTER analytics',
    ]);
    const create = 'CREATE TABLE batch_runs (batch_id String) ENGINE = MergeTree() ORDER BY batch_id';
    expect(rendered(create, 'DROP TABLE batch_runs').slice(1)).toEqual(['DROP TABLE IF EXISTS pv.batch_runs ON CLUSTER analytics']);
  });

  it('alters a table on every node alone', () => {
    const create = 'CREATE TABLE batch_runs (batch_id String) ENGINE = MergeTree() ORDER BY batch_id';
    expect(rendered(create, "ALTER TABLE batch_runs ADD COLUMN divergence String DEFAULT ''").slice(1)).toEqual([
      "ALTER TABLE pv.batch_runs ON CLUSTER analytics\n  ADD COLUMN divergence String DEFAULT ''",
    ]);
  });
});

describe('cluster DDL: refusals name the statement and the reason', () => {
  it.each([
    [['DROP TABLE raw_events'], 'table raw_events is dropped before it is created'],
    [[RAW_EVENTS, 'DROP TABLE raw_events', 'ALTER TABLE raw_events ADD COLUMN a String'], 'table raw_events is altered before it is created'],
    [[RAW_EVENTS, 'DROP TABLE raw_events ON CLUSTER c'], 'the migration already says ON CLUSTER'],
    [[RAW_EVENTS, 'DROP TABLE raw_events SYNC'], 'expected the end of DROP TABLE raw_events'],
    [['INSERT INTO batch_runs VALUES (1)'], 'only CREATE TABLE, ALTER TABLE … ADD/DROP/MODIFY COLUMN and DROP TABLE'],
    [['CREATE TABLE new_table (a Int32) ENGINE = MergeTree() ORDER BY a'], 'table new_table has no placement in TABLE_PLACEMENT'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = Log'], 'engine "Log" is not one the renderer replicates'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = ReplicatedMergeTree(\'/p\', \'r\') ORDER BY a'], 'engine "ReplicatedMergeTree" is not one'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = Memory()'], 'engine "Memory" is not one'],
    [['CREATE TABLE raw_events (d Date, a Int32) ENGINE = MergeTree(d, (a), 8192)'], 'MergeTree(d, (a), 8192) takes 0 arguments here (the old syntax'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = ReplacingMergeTree(a, b) ORDER BY a'], 'takes 0 to 1 arguments'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = MergeTree()'], 'MergeTree table raw_events has no ORDER BY'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = MergeTree() ORDER BY a TTL a + 1'], 'the TTL clause is not rendered'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = MergeTree() GRANULARITY 3 ORDER BY a'], 'expected a table clause at "GRANULARITY 3"'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = MergeTree() ORDER BY a AS SELECT 1 AS a'], 'the AS clause is not rendered'],
    [['CREATE TABLE other.raw_events (a Int32) ENGINE = MergeTree() ORDER BY a'], 'the table name other.raw_events is qualified'],
    [['CREATE TABLE raw_events AS batch_runs'], 'expected "("'],
    [['CREATE TABLE raw_events (a Int32 ENGINE = MergeTree() ORDER BY a'], 'unbalanced parentheses'],
    [[RAW_EVENTS, RAW_EVENTS], 'table raw_events is created a second time'],
    [["ALTER TABLE raw_events ADD COLUMN a String"], 'table raw_events is altered before it is created'],
    [[RAW_EVENTS, 'ALTER TABLE raw_events DELETE WHERE 1'], 'the ALTER action "DELETE WHERE 1" is not rendered (known: ADD COLUMN, DROP COLUMN, MODIFY COLUMN)'],
    [[RAW_EVENTS, 'ALTER TABLE raw_events ADD COLUMN a String, DROP PARTITION 3'], 'the ALTER action "DROP PARTITION 3" is not rendered'],
    [[RAW_EVENTS, 'ALTER TABLE raw_events ON CLUSTER c ADD COLUMN a String'], 'the migration already says ON CLUSTER'],
    [[RAW_EVENTS, 'ALTER TABLE raw_events ADD COLUMN a String,, DROP COLUMN b'], 'empty part'],
    [['CREATE TABLE raw_events (a Int32) ENGINE = MergeTree() ORDER BY a # b'], 'unexpected character "#"'],
  ])('%j: %s', (statements, reason) => {
    const message = refusal(...statements);
    expect(message).toMatch(new RegExp(`^cannot render statement ${statements.length} of 001_test\\.sql for a cluster \\(".+"\\): `));
    expect(message).toContain(reason);
  });

  it.each([
    [{ cluster: 'my-cluster', database: 'pv' }, "cluster DDL option 'cluster' must be a plain name"],
    [{ cluster: 'analytics', database: 'pv`; DROP' }, "cluster DDL option 'database' must be a plain name"],
    [{ cluster: 'analytics', database: '1pv' }, "cluster DDL option 'database' must be a plain name"],
  ])('refuses the names %j', (options, message) => {
    expect(() => clusterDdl([], options)).toThrow(message);
  });
});

describe('cluster DDL of the project schema', () => {
  it('renders every statement of every migration, each migration recorded in schema_migrations', async () => {
    const migrations = await loadMigrations('clickhouse');
    const ddl = clusterDdl(migrations, OPTIONS);
    expect(ddl.migrations.map((m) => m.version)).toEqual(migrations.map((m) => m.version));
    for (const [i, migration] of ddl.migrations.entries()) {
      expect(migration.statements.length).toBeGreaterThan(migrations[i]!.statements.length);
      expect(migration.statements.at(-1)).toBe(
        `INSERT INTO pv.schema_migrations (version, name, applied_at) SELECT ${migration.version}, '${migration.name}', toInt64(toUInt32(now())) * 1000`,
      );
      for (const statement of migration.statements.slice(0, -1)) expect(statement).toContain(' ON CLUSTER analytics');
    }
    // Migration 010 drops a table and creates another again: each after (drop) or before (create) its Distributed table.
    const recreated = ddl.migrations.find((m) => m.name === 'batch_pass_events_by_visitor')?.statements.slice(0, -1) ?? [];
    expect(recreated.map((statement) => statement.split(' (')[0]!.split(' ENGINE')[0])).toEqual([
      'DROP TABLE IF EXISTS pv.batch_session_events_all ON CLUSTER analytics',
      'DROP TABLE IF EXISTS pv.batch_session_events ON CLUSTER analytics',
      'DROP TABLE IF EXISTS pv.batch_pass_events_all ON CLUSTER analytics',
      'DROP TABLE IF EXISTS pv.batch_pass_events ON CLUSTER analytics',
      'CREATE TABLE IF NOT EXISTS pv.batch_pass_events ON CLUSTER analytics',
      'CREATE TABLE IF NOT EXISTS pv.batch_pass_events_all ON CLUSTER analytics AS pv.batch_pass_events',
    ]);
  });

  it('gives every table of the schema a placement, and no placement to a table the schema lacks', async () => {
    const ddl = clusterDdl(await loadMigrations('clickhouse'), OPTIONS);
    const created = [...ddl.setup, ...ddl.migrations.flatMap((m) => m.statements)]
      .map((s) => /^CREATE TABLE IF NOT EXISTS pv\.(\w+) ON CLUSTER analytics \(/.exec(s)?.[1])
      .filter((t): t is string => t !== undefined);
    expect([...new Set(created)].sort()).toEqual(Object.keys(TABLE_PLACEMENT).sort());
  });

  it("creates schema_migrations as the store's own migrate() does", () => {
    const store = new ClickHouseViewStore({ url: 'http://127.0.0.1:1', database: 'pv' });
    const storeDdl = (store as unknown as { migrationsTableDdl(): string }).migrationsTableDdl();
    expect(SCHEMA_MIGRATIONS_DDL).toBe(storeDdl);
    return store.close();
  });

  it('a script has the setup, then the migrations after a version', () => {
    const migrations: Migration[] = [
      { version: 1, name: 'one', statements: [RAW_EVENTS] },
      { version: 2, name: 'two', statements: ["ALTER TABLE raw_events ADD COLUMN a String DEFAULT ''"] },
    ];
    const ddl = clusterDdl(migrations, OPTIONS);
    const all = clusterDdlScript(ddl);
    expect(all).toMatch(/^-- Setup \(idempotent\)\nCREATE DATABASE IF NOT EXISTS pv ON CLUSTER analytics;\n\nCREATE TABLE IF NOT EXISTS pv\.schema_migrations /);
    expect(all).toContain(';\n\n-- 001_one\nCREATE TABLE IF NOT EXISTS pv.raw_events ON CLUSTER analytics');
    expect(all).toContain(';\n\n-- 002_two\nALTER TABLE pv.raw_events ON CLUSTER analytics');
    expect(all.endsWith("SELECT 2, 'two', toInt64(toUInt32(now())) * 1000;\n")).toBe(true);
    const after = clusterDdlScript(ddl, 1);
    expect(after).toContain('-- Setup');
    expect(after).not.toContain('-- 001_one');
    expect(after).toContain('-- 002_two');
  });
});
