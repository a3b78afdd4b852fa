/**
 * Poison isolation: rows a store refuses are isolated by bisection, every other row is written
 * exactly once; a store that is down, or that refuses everything, is not mistaken for poison.
 * Against a real ClickHouse, a raw event whose page id holds a lone surrogate is what 18.16
 * refuses: it is isolated and its neighbours are stored.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformError } from '../../../../shared/core/errors.ts';
import { ClickHouseViewStore, DuckDbViewStore, writeIsolatingRefused, type RawEventRow, type ViewStore } from '../../../../shared/adapters/view-store/index.ts';
import { mulberry32 } from '../../../../shared/tools/traffic-generator.ts';
import { missingInfra, suiteName } from '../../../support/infra.ts';
import { inject } from 'vitest';

const refusal = (): PlatformError => new PlatformError('PV_STORE_QUERY_FAILED', 'Cannot parse input');

describe('writeIsolatingRefused', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: refuses exactly the poison rows and writes every other row once', async (seed) => {
    const random = mulberry32(seed);
    const rows = Array.from({ length: 1 + Math.floor(random() * 300) }, (_, i) => ({ i, poison: random() < 0.03 }));
    if (rows.every((r) => r.poison)) rows.push({ i: rows.length, poison: false });
    const written: number[] = [];
    let writes = 0;
    const refused = await writeIsolatingRefused(rows, async (part) => {
      writes += 1;
      if (part.some((r) => r.poison)) throw refusal();
      written.push(...part.map((r) => r.i));
    });
    const poison = rows.filter((r) => r.poison).map((r) => r.i);
    expect(refused.map((r) => r.row.i).sort((a, b) => a - b)).toEqual(poison);
    expect(written.sort((a, b) => a - b)).toEqual(rows.filter((r) => !r.poison).map((r) => r.i));
    // Bisection: at most about 2 writes per level per poison row.
    expect(writes).toBeLessThanOrEqual(1 + 2 * Math.max(1, poison.length) * Math.ceil(Math.log2(rows.length) + 1));
  });

  it('rethrows an error that is not a refusal (the store is down) without bisecting', async () => {
    let writes = 0;
    const down = new PlatformError('PV_STORE_UNAVAILABLE', 'unreachable', { retriable: true });
    await expect(writeIsolatingRefused([1, 2, 3, 4], async () => {
      writes += 1;
      throw down;
    })).rejects.toBe(down);
    expect(writes).toBe(1);
  });

  it('rethrows when every row is refused: the store, not the rows, is the problem', async () => {
    const first = refusal();
    let writes = 0;
    await expect(writeIsolatingRefused([1, 2, 3, 4, 5], async () => {
      writes += 1;
      throw writes === 1 ? first : refusal();
    })).rejects.toBe(first);
  });

  it('rethrows for a single row: one refused row alone cannot be told from a broken store', async () => {
    const err = refusal();
    await expect(writeIsolatingRefused(['only'], async () => Promise.reject(err))).rejects.toBe(err);
  });
});

function rawRow(offset: number, pageId: string): RawEventRow {
  return {
    partition: 0, offset, eventId: randomUUID(), site: 'default', pageId, visitorId: `v${offset}`,
    visitorHllIndex: 1, visitorHllRank: 1, eventTime: Date.UTC(2026, 10, 1, 12), referrer: '', userAgent: '',
  };
}

const skip = missingInfra('ClickHouse');

describe.skipIf(skip !== undefined)(suiteName('a lone surrogate refused by a real ClickHouse is isolated', skip), () => {
  let store: ViewStore;
  beforeAll(async () => {
    store = new ClickHouseViewStore({ url: inject('infra').clickhouseUrl ?? '', database: `t_${randomUUID().replace(/-/g, '')}` });
    await store.migrate();
  });
  afterAll(async () => {
    await (store as ClickHouseViewStore | undefined)?.dropDatabase();
    await store?.close();
  });

  it('stores the other rows of the write and returns the poison row', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => rawRow(i, i === 13 ? '/x\ud800' : `/p${i}`));
    const refused = await writeIsolatingRefused(rows, (part) => store.appendRawEvents(part));
    expect(refused.map((r) => r.row.offset)).toEqual([13]);
    expect(refused[0]?.error.code).toBe('PV_STORE_QUERY_FAILED');
    expect(await store.rawCopyEndOffsets()).toEqual(new Map([[0, 20]]));
  });
});

describe('DuckDB takes what ClickHouse refuses (the validator keeps it out of both)', () => {
  it('a lone surrogate is not refused by DuckDB, so nothing is isolated', async () => {
    const store = await DuckDbViewStore.open({ path: ':memory:' });
    try {
      await store.migrate();
      expect(await writeIsolatingRefused([rawRow(0, '/a'), rawRow(1, '/x\ud800')], (part) => store.appendRawEvents(part))).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
