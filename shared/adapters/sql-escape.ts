/**
 * The one way values and identifiers reach SQL text.
 *
 * ClickHouse 18.16 has no server-side query parameters, so queries are built as text.
 * Every value goes through `dialect.sql` (a tagged template that escapes each
 * interpolation as a literal) or `dialect.literal` / `dialect.identifier`. Anything else
 * in a query is a constant written in this repository.
 */
import { PlatformError } from '../core/errors.ts';

export type DialectName = 'clickhouse' | 'duckdb';

/** A piece of SQL text that is already safe (built by `sql` or `identifier`). */
export class SqlFragment {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Marks a string to be escaped as an identifier rather than a literal. */
export class SqlIdentifier {
  constructor(readonly name: string) {}
}

export function ident(name: string): SqlIdentifier {
  return new SqlIdentifier(name);
}

export type SqlValue = string | number | bigint | boolean | null | SqlFragment | SqlIdentifier | readonly SqlValue[];

function invalid(message: string): PlatformError {
  return new PlatformError('PV_SQL_VALUE_INVALID', message);
}

function escapeClickHouseString(value: string): string {
  let out = "'";
  for (const ch of value) {
    switch (ch) {
      case '\\': out += '\\\\'; break;
      case "'": out += "\\'"; break;
      case '\0': out += '\\0'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\t': out += '\\t'; break;
      case '\b': out += '\\b'; break;
      case '\f': out += '\\f'; break;
      default: out += ch;
    }
  }
  return out + "'";
}

function escapeDuckDbString(value: string): string {
  // Standard SQL: a quote is doubled, a backslash is an ordinary character. NUL cannot
  // appear inside a literal, so it is spliced in with chr(0).
  const parts = value.split('\0').map((p) => `'${p.replace(/'/g, "''")}'`);
  return parts.length === 1 ? parts[0]! : `(${parts.join(' || chr(0) || ')})`;
}

function checkIdentifier(name: string): void {
  if (name.length === 0) throw invalid('an SQL identifier must not be empty');
  if (name.length > 200) throw invalid('an SQL identifier must be at most 200 characters');
  if (name.includes('\0')) throw invalid('an SQL identifier must not contain NUL');
}

export interface SqlDialect {
  readonly name: DialectName;
  /** A string, number, boolean or null as an SQL literal. */
  literal(value: Exclude<SqlValue, SqlFragment | SqlIdentifier | readonly SqlValue[]>): string;
  /** A table, column or database name, quoted. */
  identifier(name: string): string;
  /** Tagged template: each `${value}` is escaped (literal, identifier, list or nested fragment). */
  sql(strings: TemplateStringsArray, ...values: SqlValue[]): SqlFragment;
}

function makeDialect(name: DialectName): SqlDialect {
  const literal = (value: Exclude<SqlValue, SqlFragment | SqlIdentifier | readonly SqlValue[]>): string => {
    if (value === null) return 'NULL';
    if (typeof value === 'boolean') return value ? '1' : '0';
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw invalid(`cannot use ${value} as an SQL number`);
      return Number.isInteger(value) && !Number.isSafeInteger(value) ? BigInt(value).toString() : String(value);
    }
    if (typeof value === 'string') {
      return name === 'clickhouse' ? escapeClickHouseString(value) : escapeDuckDbString(value);
    }
    throw invalid(`cannot use a ${typeof value} as an SQL value`);
  };
  const identifier = (id: string): string => {
    checkIdentifier(id);
    return name === 'clickhouse'
      ? '`' + id.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`'
      : '"' + id.replace(/"/g, '""') + '"';
  };
  const render = (value: SqlValue): string => {
    if (value instanceof SqlFragment) return value.text;
    if (value instanceof SqlIdentifier) return identifier(value.name);
    if (Array.isArray(value)) {
      if (value.length === 0) throw invalid('an SQL list must not be empty');
      return value.map(render).join(', ');
    }
    return literal(value as Exclude<SqlValue, SqlFragment | SqlIdentifier | readonly SqlValue[]>);
  };
  const sql = (strings: TemplateStringsArray, ...values: SqlValue[]): SqlFragment => {
    let text = strings[0] ?? '';
    values.forEach((value, i) => {
      text += render(value) + (strings[i + 1] ?? '');
    });
    return new SqlFragment(text);
  };
  return { name, literal, identifier, sql };
}

export const clickhouseDialect: SqlDialect = makeDialect('clickhouse');
export const duckdbDialect: SqlDialect = makeDialect('duckdb');

/** Joins fragments with a separator (e.g. ' AND '). */
export function joinSql(fragments: readonly SqlFragment[], separator: string): SqlFragment {
  return new SqlFragment(fragments.map((f) => f.text).join(separator));
}
