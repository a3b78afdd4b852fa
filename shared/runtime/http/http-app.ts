/**
 * The HTTP application shell every process serves: request metrics, the routers it is given
 * (composed by the entry point: collector, serving API, …), the OpenAPI document, then one
 * 404 and one error handler, so every error answer has the same shape.
 */
import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from '../logger.ts';
import type { PlatformMetrics } from '../metrics.ts';
import { errorHandler, sendError } from './api-error.ts';

export interface HttpAppOptions {
  metrics: PlatformMetrics;
  logger: Logger;
  /** Mounted in order. */
  routers: readonly Router[];
  /** Served at GET /api/v1/openapi.json when given. */
  openApiDocument?: unknown;
  /**
   * Whose X-Forwarded-For gives the client IP (`req.ip`): false (the socket's address), a
   * number of proxy hops, or addresses/subnets (and `loopback`, `linklocal`, `uniquelocal`),
   * as Express's `trust proxy` setting takes them. @default false
   */
  trustProxy?: TrustProxy;
}

export type TrustProxy = false | number | readonly string[];

export function createHttpApp(options: HttpAppOptions): Express {
  const { metrics, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.set('trust proxy', Array.isArray(options.trustProxy) ? [...options.trustProxy] : (options.trustProxy ?? false));
  app.use((req: Request, res: Response, next: NextFunction) => {
    const end = metrics.httpRequests.startTimer({ method: req.method });
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ route, status: String(res.statusCode) });
    });
    next();
  });
  if (options.openApiDocument !== undefined) {
    const document = options.openApiDocument;
    app.get('/api/v1/openapi.json', (_req, res) => {
      res.json(document);
    });
  }
  for (const router of options.routers) app.use(router);
  app.use((_req, res) => {
    sendError(res, 404, 'PV_NOT_FOUND', 'no such endpoint (the API is listed in README.md)');
  });
  app.use(errorHandler(logger));
  return app;
}
