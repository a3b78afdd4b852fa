/** Errors become answers: the client's by code, ours by `retriable` (503 with Retry-After, or 500 without internals). */
import type { Response } from 'express';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, PlatformError, type ErrorCode } from '../../../../shared/core/errors.ts';
import { ApiError, errorHandler, errorShape, statusOf, type ErrorShape } from '../../../../shared/runtime/http/api-error.ts';
import { silentLogger } from '../../../../shared/runtime/logger.ts';

function answer(err: unknown, shape?: ErrorShape): { status: number; headers: Record<string, string>; body: { error: { code: string; message: string } } } {
  const out = { status: 0, headers: {} as Record<string, string>, body: undefined as unknown };
  const res = {
    headersSent: false,
    locals: {},
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
  if (shape !== undefined) errorShape(shape)({} as never, res, () => undefined);
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

describe("Plausible's error shape", () => {
  it('a route marked plausible writes the message as the error string, the code and details beside it', () => {
    const details = [{ field: 'period', message: "parameter 'period' must be one of day" }];
    const res = answer(new ApiError(400, 'PV_QUERY_INVALID', "parameter 'period' must be one of day", details), 'plausible');
    expect(res).toMatchObject({ status: 400, body: { error: "parameter 'period' must be one of day", code: 'PV_QUERY_INVALID', details } });
  });

  it('errors from deeper keep their status and Retry-After; internals stay hidden', () => {
    const down = answer(new PlatformError('PV_STORE_UNAVAILABLE', 'the view store is unreachable', { retriable: true }), 'plausible');
    expect(down).toMatchObject({ status: 503, headers: { 'retry-after': '5' }, body: { error: 'the view store is unreachable', code: 'PV_STORE_UNAVAILABLE' } });
    expect(answer(new Error('boom'), 'plausible').body).toEqual({ error: 'internal error', code: 'PV_INTERNAL' });
  });

  it('a route marked product (or not marked) keeps the error object', () => {
    expect(answer(new ApiError(404, 'PV_NOT_FOUND', 'no such endpoint'), 'product').body).toEqual({ error: { code: 'PV_NOT_FOUND', message: 'no such endpoint' } });
    expect(answer(new ApiError(404, 'PV_NOT_FOUND', 'no such endpoint')).body).toEqual({ error: { code: 'PV_NOT_FOUND', message: 'no such endpoint' } });
  });
});
