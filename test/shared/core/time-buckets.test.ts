import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { INTERVALS, bucketCeil, bucketSql, bucketStart, bucketsInRange, isBucketEdge } from '../../../shared/core/time-buckets.ts';

const T = Date.UTC(2026, 2, 29, 1, 30, 15, 500); // a DST-change day in Europe: UTC buckets ignore it

describe('time buckets (UTC, half-open)', () => {
  it.each([
    ['minute', Date.UTC(2026, 2, 29, 1, 30)],
    ['hour', Date.UTC(2026, 2, 29, 1)],
    ['day', Date.UTC(2026, 2, 29)],
  ] as const)('%s bucket of a time is its UTC start', (interval, start) => {
    expect(bucketStart(T, interval)).toBe(start);
    expect(bucketStart(start, interval)).toBe(start);
    expect(isBucketEdge(start, interval)).toBe(true);
    expect(bucketCeil(start, interval)).toBe(start);
    expect(bucketCeil(start + 1, interval)).toBeGreaterThan(start);
  });

  it('the last millisecond of a bucket still belongs to it', () => {
    const day = Date.UTC(2026, 0, 1);
    expect(bucketStart(day - 1, 'day')).toBe(Date.UTC(2025, 11, 31));
    expect(bucketStart(day, 'day')).toBe(day);
  });

  it('bucketsInRange floors from and stops before to', () => {
    const h = Date.UTC(2026, 0, 1, 10);
    expect(bucketsInRange(h + 5, h + 2 * 3_600_000, 'hour')).toEqual([h, h + 3_600_000]);
    expect(bucketsInRange(h, h + 3_600_001, 'hour')).toEqual([h, h + 3_600_000]);
  });

  it('the SQL form computes the same bucket as TypeScript (DuckDB)', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      const samples = [T, Date.UTC(2026, 0, 1) - 1, Date.UTC(2026, 0, 1), 946_684_800_000, 4_102_444_799_999];
      for (const interval of INTERVALS) {
        for (const ts of samples) {
          const reader = await conn.runAndReadAll(`SELECT ${bucketSql('duckdb', `${ts}::BIGINT`, interval)} AS b`);
          expect(Number(reader.getRowsJS()[0]?.[0])).toBe(bucketStart(ts, interval));
        }
      }
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  });
});
