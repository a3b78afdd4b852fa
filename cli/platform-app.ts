/**
 * The HTTP app `npm start` serves, composed from the layers' routers: the collector
 * (POST /api/v1/events) and the serving layer (read API, batch operations, health), with the
 * OpenAPI document assembled from their parts.
 */
import type { Express } from 'express';
import { COLLECTOR_OPENAPI, collectorRouter } from '../collector/index.ts';
import { SERVING_OPENAPI, servingRouter, type ServingAppDeps } from '../serving-layer/index.ts';
import { createHttpApp } from '../shared/runtime/http/http-app.ts';
import { openApiDocument } from '../shared/runtime/http/openapi.ts';

/** The OpenAPI document of the composed app. */
export const PLATFORM_OPENAPI = openApiDocument([COLLECTOR_OPENAPI, SERVING_OPENAPI]);

export function createPlatformApp(deps: ServingAppDeps): Express {
  return createHttpApp({
    metrics: deps.metrics,
    logger: deps.logger,
    routers: [collectorRouter(deps.log, deps.metrics), servingRouter(deps)],
    openApiDocument: PLATFORM_OPENAPI,
  });
}
