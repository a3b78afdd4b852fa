/**
 * Migration 006 (event schema v2) on a store that already holds raw rows, in both engines: the
 * rows copied before it read as schema v1 with no visit fields, and the batch build over old
 * and new rows together counts both. The old rows are written with the engines' own clients,
 * in the columns the tables had before the migration.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@clickhouse/client';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { ClickHouseViewStore, DuckDbViewStore, type RawEventRow, type ViewStore } from '../../../../shared/adapters/view-store/index.ts';
import { missingInfra, suiteName } from '../../../support/infra.ts';

const T0 = Date.UTC(2026, 0, 10);
const LEGACY_COLUMNS = 'log_partition, log_offset, event_id, site, page_id, visitor_id, visitor_hll_index, visitor_hll_rank, event_time, referrer, user_agent';
const legacyValues = (offset: number): string => `(0, ${offset}, '${randomUUID()}', 'default', '/old', 'v${offset}', ${offset}, 1, ${T0 + offset * 1000}, '', 'ua')`;

async function expectMigratedRows(store: ViewStore): Promise<void> {
  await store.migrate();
  const v2: RawEventRow = {
    partition: 0,
    offset: 2,
    eventId: randomUUID(),
    site: 'default',
    pageId: '/new',
    visitorId: 'v2',
    visitorHllIndex: 2,
    visitorHllRank: 1,
    eventTime: T0 + 2000,
    referrer: '',
    userAgent: '',
    schemaVersion: 2,
    source: 'Google',
    device: 'Mobile',
    country: 'DE',
  };
  await store.appendRawEvents([v2]);
  const rows = await store.readRawEvents({ partition: 0, fromOffset: 0, limit: 10 });
  expect(rows.map((r) => [r.offset, r.schemaVersion, r.source, r.device, r.country])).toEqual([
    [0, 1, undefined, undefined, undefined],
    [1, 1, undefined, undefined, undefined],
    [2, 2, 'Google', 'Mobile', 'DE'],
  ]);
  const stats = await store.buildBatchViews('b1', { cutoffTime: T0 + 86_400_000, endOffsets: new Map([[0, 3]]) });
  expect(stats.rowsCounted).toBe(3);
}

describe('migration 006 on existing raw rows: DuckDB', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await fs.rm(dir, { recursive: true, force: true });
  });

  it('old rows read as v1 and still count', async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-migrate-'));
    const file = path.join(dir, 'views.duckdb');
    const before = await DuckDbViewStore.open({ path: file });
    await before.migrate(5);
    await before.close();
    const instance = await DuckDBInstance.create(file);
    const conn = await instance.connect();
    await conn.run(`INSERT INTO raw_events (${LEGACY_COLUMNS}) VALUES ${legacyValues(0)}, ${legacyValues(1)}`);
    conn.closeSync();
    instance.closeSync();
    const store = await DuckDbViewStore.open({ path: file });
    try {
      await expectMigratedRows(store);
    } finally {
      await store.close();
    }
  });
});

const skip = missingInfra('ClickHouse');
describe.skipIf(skip !== undefined)(suiteName('migration 006 on existing raw rows: ClickHouse', skip), () => {
  it('old rows read as v1 and still count', async () => {
    const url = inject('infra').clickhouseUrl ?? '';
    const database = `t_${randomUUID().replace(/-/g, '')}`;
    const store = new ClickHouseViewStore({ url, database });
    const client = createClient({ url, database });
    try {
      await store.migrate(5);
      await client.command({ query: `INSERT INTO raw_events (${LEGACY_COLUMNS}) VALUES ${legacyValues(0)}, ${legacyValues(1)}` });
      await expectMigratedRows(store);
    } finally {
      await client.close();
      await store.dropDatabase();
      await store.close();
    }
  });
});
