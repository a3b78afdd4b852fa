/**
 * How the ClickHouse adapter converts the client's and the server's errors (no server needed):
 * a store that is down, hung or overloaded is a retriable PV_STORE_UNAVAILABLE with a generic
 * message; a query the server refuses is a non-retriable PV_STORE_QUERY_FAILED.
 */
import { ClickHouseError } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import {
  ClickHouseViewStore,
  STORE_UNAVAILABLE_MESSAGE,
  StoreDeadlineError,
  clickhouseError,
  serverErrorCode,
} from '../../../../shared/adapters/view-store/clickhouse-store.ts';
import { PlatformError } from '../../../../shared/core/errors.ts';

/** A Node socket error as http.request rejects with it. */
function socketError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** ClickHouse 18.16's error answer, as the client hands it over (it cannot parse it: no "(TYPE)"). */
function answer1816(code: number, text: string): Error {
  return new Error(`Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception\n`);
}

describe('clickhouseError', () => {
  it.each([
    ['the store deadline', new StoreDeadlineError('query', 5000, { cause: new Error('The user aborted a request.') })],
    ["the client's socket timeout", new Error('Timeout error.')],
    ['connection refused', socketError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8123')],
    ['socket hang up', socketError('ECONNRESET', 'socket hang up')],
    ['a broken pipe', socketError('EPIPE', 'write EPIPE')],
    ['an unknown host', socketError('ENOTFOUND', 'getaddrinfo ENOTFOUND clickhouse')],
    ['TOO_MANY_SIMULTANEOUS_QUERIES (current servers)', new ClickHouseError({ message: 'Too many simultaneous queries. Maximum: 100. ', code: '202', type: 'TOO_MANY_SIMULTANEOUS_QUERIES' })],
    ['TOO_MANY_SIMULTANEOUS_QUERIES (18.16)', answer1816(202, 'Too many simultaneous queries. Maximum: 100')],
    ['MEMORY_LIMIT_EXCEEDED (18.16)', answer1816(241, 'Memory limit (for query) exceeded: would use 9.31 GiB')],
    ['TIMEOUT_EXCEEDED (18.16)', answer1816(159, 'Timeout exceeded: elapsed 30.0 seconds, maximum: 30')],
    ['TIMEOUT_EXCEEDED (current servers)', new ClickHouseError({ message: 'Timeout exceeded: elapsed 30 seconds. ', code: '159', type: 'TIMEOUT_EXCEEDED' })],
  ])('%s is a retriable PV_STORE_UNAVAILABLE with a generic message', (_name, err) => {
    const converted = clickhouseError(err, 'query');
    expect(converted).toMatchObject({ code: 'PV_STORE_UNAVAILABLE', retriable: true, message: STORE_UNAVAILABLE_MESSAGE });
    // The log still gets what happened, through the cause.
    expect(converted.cause).toBeInstanceOf(Error);
  });

  it.each([
    ['a syntax error (18.16)', answer1816(62, "Syntax error: failed at position 1 (line 1, col 1): SELEC * FROM raw_events")],
    ['an unknown table (18.16)', answer1816(60, "Table t_1.nope doesn't exist.")],
    ['a syntax error (current servers)', new ClickHouseError({ message: 'Syntax error: failed at position 1: SELEC. ', code: '62', type: 'SYNTAX_ERROR' })],
    ['a value the column refuses', answer1816(27, 'Cannot parse input: expected , before: x')],
    ['an error without a code', new Error('Unexpected end of JSON input')],
  ])('%s is a non-retriable PV_STORE_QUERY_FAILED', (_name, err) => {
    const converted = clickhouseError(err, 'query');
    expect(converted).toMatchObject({ code: 'PV_STORE_QUERY_FAILED', retriable: false });
    expect(converted.cause).toBe(err);
  });

  it('does not take a message that merely mentions a timeout for one', () => {
    const converted = clickhouseError(new Error('Timeout error. in a page title'), 'query');
    expect(converted).toMatchObject({ code: 'PV_STORE_QUERY_FAILED', retriable: false });
  });

  it('passes PlatformErrors through', () => {
    const err = new PlatformError('PV_SQL_VALUE_INVALID', 'not a finite number');
    expect(clickhouseError(err, 'query')).toBe(err);
  });
});

describe('serverErrorCode', () => {
  it('reads the code of ClickHouseError and of 18.16 answers, and nothing else', () => {
    expect(serverErrorCode(new ClickHouseError({ message: 'x', code: '241', type: 'MEMORY_LIMIT_EXCEEDED' }))).toBe(241);
    expect(serverErrorCode(answer1816(202, 'Too many simultaneous queries'))).toBe(202);
    expect(serverErrorCode(new Error('Code: 202 was mentioned'))).toBeUndefined();
    expect(serverErrorCode(socketError('ECONNRESET', 'socket hang up'))).toBeUndefined();
  });
});

describe('ClickHouseViewStore deadlines', () => {
  const url = 'http://127.0.0.1:1';

  it('rejects a bulk deadline shorter than the read deadline, naming both options', () => {
    expect(() => new ClickHouseViewStore({ url, database: 'd', requestTimeoutMs: 10_000, bulkRequestTimeoutMs: 5000 })).toThrow(
      /'bulkRequestTimeoutMs' \(5000\) must be at least 'requestTimeoutMs' \(10000\)/,
    );
  });

  it.each([
    ['requestTimeoutMs', 0],
    ['pingTimeoutMs', 1.5],
  ])('rejects %s = %s', (option, value) => {
    expect(() => new ClickHouseViewStore({ url, database: 'd', [option]: value })).toThrow(new RegExp(`'${option}' must be a whole number`));
  });

  it('raises the default bulk deadline to a longer read deadline', async () => {
    let store: ClickHouseViewStore | undefined;
    expect(() => {
      store = new ClickHouseViewStore({ url, database: 'd', requestTimeoutMs: 600_000 });
    }).not.toThrow();
    await store?.close();
  });
});
