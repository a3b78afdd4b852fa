/** What GET /api/v1/batch/runs shows of a failed run's error: never the store's raw text. */
import { describe, expect, it } from 'vitest';
import { publicRunError, runBody } from '../../serving-layer/batch-routes.ts';
import type { BatchRunRecord } from '../../shared/adapters/view-store/index.ts';

describe('publicRunError', () => {
  it('cuts a ClickHouse 18.16 DB::Exception down to its code', () => {
    const error =
      "ClickHouse statement failed: Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1: SELEC site FROM raw_events WHERE event_id = 'x', e.what() = DB::Exception";
    expect(publicRunError(error)).toBe('ClickHouse statement failed: code 62; the full message is in the server log');
  });

  it('keeps the type a current ClickHouse names, and drops the SQL on later lines', () => {
    const error =
      "ClickHouse query failed: Code: 241. DB::Exception: Memory limit (for query) exceeded: would use 9.31 GiB: While executing\nSELECT event_id, argMin(site, pos) FROM raw_events\nGROUP BY event_id. (MEMORY_LIMIT_EXCEEDED) (version 24.3.1.1)";
    expect(publicRunError(error)).toBe('ClickHouse query failed: code 241 (MEMORY_LIMIT_EXCEEDED); the full message is in the server log');
  });

  it('says where a bare server message came from', () => {
    expect(publicRunError('Code: 60, e.displayText() = DB::Exception: Table t.raw_events doesn\'t exist., e.what() = DB::Exception')).toBe(
      'ClickHouse error: code 60; the full message is in the server log',
    );
  });

  it("keeps the first line of other errors (DuckDB echoes the SQL on the next ones)", () => {
    expect(publicRunError('DuckDB query failed: Parser Error: syntax error at or near "SELEC"\n\nLINE 1: SELEC * FROM raw_events\n        ^')).toBe(
      'DuckDB query failed: Parser Error: syntax error at or near "SELEC"',
    );
    expect(publicRunError('abandoned: the process running it stopped before it finished')).toBe('abandoned: the process running it stopped before it finished');
    expect(publicRunError(null)).toBeNull();
  });
});

describe('runBody', () => {
  it('answers the public error of a failed run', () => {
    const run: BatchRunRecord = {
      batchId: 'b1',
      status: 'failed',
      startedAt: 0,
      finishedAt: 1000,
      cutoffTime: 0,
      endOffsets: {},
      rowsRead: 0,
      rowsInvalid: 0,
      rowsDuplicate: 0,
      rowsCounted: 0,
      error: 'ClickHouse statement failed: Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded, e.what() = DB::Exception',
    };
    expect(runBody(run)).toMatchObject({ batchId: 'b1', error: 'ClickHouse statement failed: code 241; the full message is in the server log', durationMs: 1000 });
  });
});
