/**
 * The cluster DDL (shared/adapters/view-store/clickhouse-cluster.ts) applied with ON CLUSTER to a
 * real one-node cluster of the test's own (test/support/clickhouse-cluster.ts: ZooKeeper and a
 * clickhouse-server, one shard with one replica): every table replicated through ZooKeeper, a
 * Distributed table that takes inserts and reads them back, a table on every node that takes
 * them, and the store itself on the node. Multi-node clusters are not tested here.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TABLE_PLACEMENT, clusterDdl, distributedTableName } from '../../../../shared/adapters/view-store/clickhouse-cluster.ts';
import { ClickHouseViewStore, type RawEventRow } from '../../../../shared/adapters/view-store/index.ts';
import { loadMigrations } from '../../../../shared/adapters/view-store/migrations.ts';
import { startOneNodeCluster, missingClusterPrograms, type OneNodeCluster } from '../../../support/clickhouse-cluster.ts';
import { suiteName } from '../../../support/infra.ts';
import { until } from '../../../support/wait.ts';

const CLUSTER = 'pv_test_cluster';
const DATABASE = 'pv_cluster';
const T0 = Date.UTC(2026, 0, 10);

const skip = missingClusterPrograms();
describe.skipIf(skip !== undefined)(suiteName('cluster DDL on a one-node ClickHouse cluster', skip), () => {
  let cluster: OneNodeCluster | undefined;
  const server = (): OneNodeCluster => {
    if (cluster === undefined) throw new Error('the cluster did not start');
    return cluster;
  };
  const rows = async (query: string): Promise<string[][]> =>
    (await server().query(`${query} FORMAT TSVRaw`))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split('\t'));

  beforeAll(async () => {
    cluster = await startOneNodeCluster(CLUSTER);
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 60_000);

  it('applies every rendered statement with ON CLUSTER: each table Replicated, each sharded one with its Distributed table', async () => {
    const ddl = clusterDdl(await loadMigrations('clickhouse'), { cluster: CLUSTER, database: DATABASE });
    for (const statement of [...ddl.setup, ...ddl.migrations.flatMap((m) => m.statements)]) await server().query(statement);

    const engines = new Map((await rows(`SELECT name, engine FROM system.tables WHERE database = '${DATABASE}'`)).map(([name = '', engine = '']) => [name, engine]));
    // The tables the migrations leave: each created and not dropped after, in order.
    const left = new Set<string>();
    for (const statement of [...ddl.setup, ...ddl.migrations.flatMap((m) => m.statements)]) {
      const created = new RegExp(`^CREATE TABLE IF NOT EXISTS ${DATABASE}\\.(\\w+) ON CLUSTER`).exec(statement)?.[1];
      const dropped = new RegExp(`^DROP TABLE IF EXISTS ${DATABASE}\\.(\\w+) ON CLUSTER`).exec(statement)?.[1];
      if (created !== undefined && created in TABLE_PLACEMENT) left.add(created);
      if (dropped !== undefined) left.delete(dropped);
    }
    expect(left.has('batch_session_events')).toBe(false); // dropped by migration 010
    const live = Object.entries(TABLE_PLACEMENT).filter(([table]) => left.has(table));
    const sharded = live.filter(([, placement]) => 'shardingKey' in placement);
    expect(engines.size).toBe(live.length + sharded.length);
    for (const [table] of live) expect(engines.get(table), table).toMatch(/^Replicated\w*MergeTree$/);
    for (const [table] of sharded) expect(engines.get(distributedTableName(table)), table).toBe('Distributed');

    // Paths with the node's macros: a sharded table's per shard, a table on every node's one for the cluster.
    const replicas = new Map((await rows(`SELECT table, zookeeper_path, replica_name, is_readonly FROM system.replicas WHERE database = '${DATABASE}'`)).map(([table = '', ...rest]) => [table, rest]));
    expect(replicas.get('raw_events')).toEqual([`/clickhouse/tables/01/${DATABASE}/raw_events`, 'replica_1', '0']);
    expect(replicas.get('batch_runs')).toEqual([`/clickhouse/tables/all/${DATABASE}/batch_runs`, 'replica_1', '0']);
    expect(replicas.size).toBe(live.length);

    const [[engineFull] = []] = await rows(`SELECT engine_full FROM system.tables WHERE database = '${DATABASE}' AND name = 'speed_page_minute'`);
    expect(engineFull).toContain(`ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${DATABASE}/speed_page_minute', '{replica}', version)`);
    // The Distributed table was created again after migration 006 added the visit fields.
    expect((await rows(`DESCRIBE TABLE ${DATABASE}.raw_events_all`)).map(([name]) => name)).toContain('country');
  });

  it('takes inserts through a Distributed table and reads them back through it', async () => {
    await server().query(
      `INSERT INTO ${DATABASE}.raw_events_all (log_partition, log_offset, event_id, site, page_id, visitor_id, event_time, country) VALUES ` +
        "(0, 1, 'e1', 'shop', '/a', 'v1', 1000, 'DE'), (0, 2, 'e2', 'shop', '/b', 'v2', 2000, 'FR'), (1, 1, 'e3', 'shop', '/a', 'v1', 3000, '')",
    );
    // A Distributed insert reaches the shards in the background: wait until it has.
    await until('the rows through raw_events_all', async () => (await rows(`SELECT count() FROM ${DATABASE}.raw_events_all`))[0]?.[0] === '3');
    expect(await rows(`SELECT log_partition, log_offset, event_id, visitor_id, country FROM ${DATABASE}.raw_events_all ORDER BY log_partition, log_offset`)).toEqual([
      ['0', '1', 'e1', 'v1', 'DE'],
      ['0', '2', 'e2', 'v2', 'FR'],
      ['1', '1', 'e3', 'v1', ''],
    ]);
    // One shard: it holds them all, in its Replicated table.
    expect(await rows(`SELECT count() FROM ${DATABASE}.raw_events`)).toEqual([['3']]);
  });

  it('takes inserts into a table on every node through ZooKeeper, and the store runs on the node unchanged', async () => {
    const store = new ClickHouseViewStore({ url: server().url, database: DATABASE });
    try {
      // Every migration is recorded: migrate() applies none again (an ALTER would fail on its existing column).
      await store.migrate();
      expect(await rows(`SELECT count() FROM ${DATABASE}.schema_migrations`)).toEqual([[String((await loadMigrations('clickhouse')).length)]]);

      const batchId = `b-${randomUUID()}`;
      await store.recordBatchRun({ batchId, status: 'success', startedAt: T0, finishedAt: T0 + 1, cutoffTime: T0, endOffsets: { '0': 3 }, rowsRead: 3, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: 3, error: null });
      expect(await store.latestBoundary()).toEqual({ batchId, cutoffTime: T0, endOffsets: { '0': 3 }, publishedAt: T0 + 1 });
      // The insert went through the table's replication log in ZooKeeper (a block, as every replica fetches it).
      const [[blocks] = []] = await rows(`SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/tables/all/${DATABASE}/batch_runs/blocks'`);
      expect(Number(blocks)).toBeGreaterThan(0);

      // The store's own batch build on the node's local (Replicated) tables: with one shard they hold every row.
      const event = (offset: number, visitorId: string, pageId: string, minutes: number): RawEventRow => ({
        partition: 2, offset, eventId: `e-${offset}`, site: 'blog', pageId, visitorId, visitorHllIndex: offset, visitorHllRank: 1, eventTime: T0 + minutes * 60_000, referrer: '', userAgent: '',
      });
      await store.appendRawEvents([event(0, 'v1', '/x', 1), event(1, 'v1', '/x', 2), event(2, 'v2', '/y', 3), event(1, 'v1', '/x', 2)]);
      const build = `b-${randomUUID()}`;
      const stats = await store.buildBatchViews(build, { cutoffTime: T0 + 3_600_000, endOffsets: new Map([[2, 3]]) });
      expect(stats.rowsCounted).toBe(3);
      expect(await store.batchViews(build, { site: 'blog', pageId: '/x', from: T0, to: T0 + 3_600_000 })).toEqual([{ bucket: T0, views: 2 }]);
    } finally {
      await store.close();
    }
  });
});
