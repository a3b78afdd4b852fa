import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, inject, it } from 'vitest';
import { isPlatformError } from '../../../shared/core/errors.ts';
import { clickhouseDialect, duckdbDialect, ident, type SqlDialect } from '../../../shared/adapters/sql-escape.ts';
import { missingInfra, suiteName } from '../../support/infra.ts';

/** Inputs that break naive quoting. */
const HOSTILE = [
  "'",
  "''",
  "\\'",
  '\\',
  '\\\\',
  "x'); DROP TABLE t; --",
  "' OR '1'='1",
  '`',
  '"',
  '"; DROP TABLE t; --',
  'a\nb\r\nc\td',
  'nul\0byte',
  '\b\f',
  '日本語 😀 ü',
  '$1 {name:String} ?',
  '/* comment */ --',
  '\\x27',
  "\\\\'",
  ' ',
];

describe('sql literal escaping', () => {
  it.each([
    [clickhouseDialect, "O'Brien\\", "'O\\'Brien\\\\'"],
    [duckdbDialect, "O'Brien\\", "'O''Brien\\'"],
  ] as const)('%s escapes quotes and backslashes', (dialect: SqlDialect, input, expected) => {
    expect(dialect.literal(input)).toBe(expected);
  });

  it('renders numbers, booleans, null and lists', () => {
    const { sql } = clickhouseDialect;
    expect(sql`SELECT ${1}, ${-2.5}, ${true}, ${null}, ${10n}, x IN (${['a', 'b']})`.text).toBe(
      "SELECT 1, -2.5, 1, NULL, 10, x IN ('a', 'b')",
    );
  });

  it('rejects values that have no SQL form', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      try {
        clickhouseDialect.literal(bad);
        expect.unreachable();
      } catch (err) {
        expect(isPlatformError(err, 'PV_SQL_VALUE_INVALID')).toBe(true);
      }
    }
    expect(() => clickhouseDialect.sql`x IN (${[]})`).toThrow(/must not be empty/);
    expect(() => duckdbDialect.identifier('')).toThrow(/must not be empty/);
  });

  it('quotes identifiers', () => {
    expect(clickhouseDialect.identifier('a`b\\c')).toBe('`a\\`b\\\\c`');
    expect(duckdbDialect.identifier('a"b')).toBe('"a""b"');
    expect(clickhouseDialect.sql`SELECT * FROM ${ident('t_1')}`.text).toBe('SELECT * FROM `t_1`');
  });
});

describe('escaped literals round-trip through DuckDB unchanged', () => {
  it.each(HOSTILE)('%j', async (value) => {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      const { sql } = duckdbDialect;
      // Identifiers may not contain NUL (rejected by the helper); every other input is a valid name.
      const column = value.includes('\0') ? 'c' : value;
      const reader = await conn.runAndReadAll(sql`SELECT ${value} AS v, ${ident(column)} FROM (SELECT 1 AS ${ident(column)}) AS t`.text);
      const row = reader.getRowsJS()[0];
      expect(row?.[0]).toBe(value);
      expect(row?.[1]).toBe(1);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  });
});

const clickhouseUrl = inject('infra').clickhouseUrl;

const skipReason = missingInfra('ClickHouse');

describe.skipIf(skipReason !== undefined)(suiteName('escaped literals round-trip through ClickHouse unchanged', skipReason), () => {
  it.each(HOSTILE.filter((v) => v.trim() !== ''))('%j', async (value) => {
    const { sql } = clickhouseDialect;
    const column = value.includes('\0') ? 'c' : value;
    const query = sql`SELECT ${value} AS v, ${ident(column)} FROM (SELECT 1 AS ${ident(column)}) FORMAT JSONEachRow`.text;
    const res = await fetch(clickhouseUrl ?? '', { method: 'POST', body: query });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const row = JSON.parse(text) as Record<string, unknown>;
    expect(row['v']).toBe(value);
  });
});
