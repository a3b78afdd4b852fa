/** Errors become answers: the client's by code, ours by `retriable` (503 with Retry-After, or 500 without internals). */
import type { Response } from 'express';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, PlatformError, type ErrorCode } from '../../../../shared/core/errors.ts';
import { ApiError, errorHandler, statusOf } from '../../../../shared/runtime/http/api-error.ts';
import { silentLogger } from '../../../../shared/runtime/logger.ts';

function answer(err: unknown): { status: number; headers: Record<string, string>; body: { error: { code: string; message: string } } } {
  const out = { status: 0, headers: {} as Record<string, string>, body: undefined as unknown };
  const res = {
    headersSent: false,
    setHeader(name: string, value: string) {
      out.headers[name.toLowerCase()] = value;
    },
    status(code: number) {
      out.status = code;
      return this;
    },
    json(body: unknown) {
      out.body = body;
    },
  } as unknown as Response;
  errorHandler(silentLogger)(err, {} as never, res, () => undefined);
  return out as ReturnType<typeof answer>;
}

describe('HTTP status of a PlatformError', () => {
  const CLIENT: Partial<Record<ErrorCode, number>> = { PV_EVENT_INVALID: 400, PV_QUERY_INVALID: 400, PV_BATCH_ALREADY_RUNNING: 409, PV_BATCH_NOT_LEASE_HOLDER: 409 };

  it.each(ERROR_CODES.map((code) => [code]))('%s: the client status, else 503 when retriable and 500 when not', (code) => {
    expect(statusOf(new PlatformError(code, 'x', { retriable: true }))).toBe(CLIENT[code] ?? 503);
    expect(statusOf(new PlatformError(code, 'x', { retriable: false }))).toBe(CLIENT[code] ?? 500);
  });

  it('a retriable failure answers 503 with Retry-After and its message', () => {
    const res = answer(new PlatformError('PV_STORE_UNAVAILABLE', 'ClickHouse query: server unreachable (ECONNREFUSED)', { retriable: true }));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body.error).toEqual({ code: 'PV_STORE_UNAVAILABLE', message: 'ClickHouse query: server unreachable (ECONNREFUSED)' });
  });

  it('an internal error (a value SQL cannot hold) answers 500 without its internals', () => {
    const res = answer(new PlatformError('PV_SQL_VALUE_INVALID', 'cannot render NaN as SQL'));
    expect(res.status).toBe(500);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body.error).toEqual({ code: 'PV_SQL_VALUE_INVALID', message: 'internal error' });
  });

  it('ApiErrors keep their status; anything unexpected is a 500', () => {
    expect(answer(new ApiError(401, 'PV_UNAUTHORIZED', 'needs a token')).status).toBe(401);
    expect(answer(new Error('boom'))).toMatchObject({ status: 500, body: { error: { code: 'PV_INTERNAL', message: 'internal error' } } });
  });
});
