/**
 * A deadline per read request: a request still running after `timeoutMs` answers 503 with
 * Retry-After (PV_REQUEST_TIMEOUT, retriable) instead of holding the connection. The work
 * itself cannot be cancelled (the view stores take no signal); when it finishes, its answer
 * (or its error) is dropped, so the connection stays usable.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { PlatformError } from '../shared/core/errors.ts';
import { sendError, statusOf } from '../shared/runtime/http/api-error.ts';
import type { Logger } from '../shared/runtime/logger.ts';

/** Set on `res.locals` once the deadline has answered. */
const TIMED_OUT = 'pvDeadlineExceeded';

/** The methods a handler answers with; after the deadline has answered they do nothing. */
const ANSWERING = ['status', 'set', 'header', 'setHeader', 'type', 'json', 'send', 'sendStatus', 'writeHead', 'write', 'end'] as const;

function dropLateAnswers(res: Response): void {
  const ignore = function (this: Response): Response {
    return this;
  };
  for (const method of ANSWERING) Object.defineProperty(res, method, { value: ignore, configurable: true, writable: true });
}

export function requestDeadline(timeoutMs: number, options: { logger: Logger; onTimeout?: () => void }): RequestHandler {
  return (req, res, next) => {
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      options.onTimeout?.();
      options.logger.warn({ url: req.originalUrl, timeoutMs }, 'request deadline exceeded');
      const err = new PlatformError(
        'PV_REQUEST_TIMEOUT',
        `the request took longer than ${timeoutMs} ms (SERVING_REQUEST_TIMEOUT_MS): try again, or ask for a shorter range`,
        { retriable: true },
      );
      res.locals[TIMED_OUT] = true;
      sendError(res, statusOf(err), err.code, err.message);
      dropLateAnswers(res);
    }, timeoutMs);
    const stop = (): void => clearTimeout(timer);
    res.once('finish', stop);
    res.once('close', stop);
    next();
  };
}

/** Swallows the late error of a request the deadline has already answered (mount after the routes). */
export function dropErrorsAfterDeadline(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.locals[TIMED_OUT] !== true) {
      next(err);
      return;
    }
    logger.debug({ err, url: req.originalUrl }, 'a request failed after its deadline had answered');
  };
}
