/**
 * HTTP errors of the API. An error answer is `{"error":{"code","message","details"}}`, except
 * on routes that speak Plausible's Stats API v1 (marked with {@link errorShape}), whose clients
 * print `error` as text: there it is `{"error":"<message>","code","details"}`. PlatformErrors
 * map to a status here; anything unexpected is a 500 without internals.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { isPlatformError, type ErrorCode, type PlatformError } from '../../core/errors.ts';
import type { Logger } from '../logger.ts';

export type ApiErrorCode = ErrorCode | 'PV_NOT_FOUND' | 'PV_UNAUTHORIZED' | 'PV_FORBIDDEN' | 'PV_BODY_INVALID' | 'PV_RATE_LIMITED' | 'PV_TOO_MANY_STREAMS' | 'PV_INTERNAL';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The codes that are the client's to fix. Every other PlatformError is ours: see {@link statusOf}. */
const CLIENT_STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  PV_EVENT_INVALID: 400,
  PV_QUERY_INVALID: 400,
  PV_BATCH_ALREADY_RUNNING: 409,
  PV_BATCH_NOT_LEASE_HOLDER: 409,
};

/**
 * The HTTP status of a PlatformError: the client's errors by code; otherwise `retriable`
 * decides — 503 with Retry-After when the same request may succeed later (a backend down or
 * closing), 500 when it will not (a bug, a corrupt sketch, a value SQL cannot hold).
 */
export function statusOf(err: PlatformError): number {
  return CLIENT_STATUS_BY_CODE[err.code] ?? (err.retriable ? 503 : 500);
}

/**
 * How a route writes its errors: `product`, the error as an object
 * (`{"error":{"code","message","details"}}`); `plausible`, the message as the `error` string,
 * as Plausible's Stats API v1 answers, with the code and details beside it
 * (`{"error":"<message>","code","details"}`).
 */
export type ErrorShape = 'product' | 'plausible';

/** Where a request's error shape is kept (`res.locals`); absent: `product`. */
const ERROR_SHAPE = 'pvErrorShape';

/**
 * Marks the requests it sees: their errors, from whatever stage (auth, validation, the store,
 * the deadline, a 404 below the path), are written in `shape`. Mount it before those stages.
 */
export function errorShape(shape: ErrorShape): RequestHandler {
  return (_req, res, next) => {
    res.locals[ERROR_SHAPE] = shape;
    next();
  };
}

export function sendError(res: Response, status: number, code: ApiErrorCode, message: string, details?: unknown): void {
  if (status === 503) res.setHeader('Retry-After', '5');
  const extra = details === undefined ? {} : { details };
  const shape = (res.locals as Record<string, unknown> | undefined)?.[ERROR_SHAPE];
  res.status(status).json(shape === 'plausible' ? { error: message, code, ...extra } : { error: { code, message, ...extra } });
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof ApiError) {
      sendError(res, err.status, err.code, err.message, err.details);
      return;
    }
    if (isPlatformError(err)) {
      const status = statusOf(err);
      if (status >= 500) logger.error({ err }, 'request failed');
      sendError(res, status, err.code, status === 500 ? 'internal error' : err.message, err.details);
      return;
    }
    // body-parser errors carry a status and a type.
    const e = err as { status?: unknown; type?: unknown; message?: unknown };
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      const message =
        e.type === 'entity.too.large' ? 'request body is too large' : e.type === 'entity.verify.failed' ? String(e.message) : `request body is not valid JSON: ${String(e.message)}`;
      sendError(res, e.status, 'PV_BODY_INVALID', message);
      return;
    }
    logger.error({ err }, 'unexpected error');
    sendError(res, 500, 'PV_INTERNAL', 'internal error');
  };
}
