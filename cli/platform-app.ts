/**
 * The HTTP app `npm start` serves, composed from the layers' routers: the collector
 * (POST /api/v1/events, POST /api/event, GET /js/script.js) and the serving layer (read API,
 * batch operations, health) and the dashboard (`/`, `/<site>`), with the OpenAPI document assembled from their parts.
 */
import type { Express } from 'express';
import { COLLECTOR_OPENAPI, TRACKER_OPENAPI, VisitEnrichment, VisitorSalts, collectorRouter, trackerRouter, type CollectorOptions, type VisitEnricher } from '../collector/index.ts';
import { DASHBOARD_OPENAPI, SERVING_OPENAPI, dashboardRouter, servingRouter, type ServingAppDeps } from '../serving-layer/index.ts';
import type { ViewReader, VisitorSaltStore } from '../shared/adapters/view-store/index.ts';
import { createHttpApp, type TrustProxy } from '../shared/runtime/http/http-app.ts';
import { openApiDocument } from '../shared/runtime/http/openapi.ts';

/** The OpenAPI document of the composed app. */
export const PLATFORM_OPENAPI = openApiDocument([TRACKER_OPENAPI, COLLECTOR_OPENAPI, SERVING_OPENAPI, DASHBOARD_OPENAPI]);

export interface PlatformAppDeps extends ServingAppDeps {
  /** The view store: the serving layer reads it, the collector keeps its visitor-id salts in it. */
  store: ViewReader & VisitorSaltStore;
  /** The daily visitor-id salts; `npm start` starts them (refreshed every minute). Absent: made here, loaded on first use. */
  salts?: VisitorSalts;
  /** The enrichment of events. Absent: made here with its defaults (country lookup on). */
  enrichment?: VisitEnricher;
  /** Rate limit, allowed origins, clock. */
  collector?: CollectorOptions;
  /** Which proxies' X-Forwarded-For to trust for the client IP (TRUST_PROXY). @default false */
  trustProxy?: TrustProxy;
}

export function createPlatformApp(deps: PlatformAppDeps): Express {
  const salts = deps.salts ?? new VisitorSalts(deps.store, deps.logger.child({ module: 'visitor-salts' }));
  const enrichment = deps.enrichment ?? new VisitEnrichment();
  return createHttpApp({
    metrics: deps.metrics,
    logger: deps.logger,
    trustProxy: deps.trustProxy ?? false,
    routers: [
      trackerRouter(),
      collectorRouter({ log: deps.log, metrics: deps.metrics, salts, enrichment, ...(deps.collector === undefined ? {} : { options: deps.collector }) }),
      servingRouter(deps),
      // Last: it answers /<site>, which every API path above must win over.
      dashboardRouter(),
    ],
    openApiDocument: PLATFORM_OPENAPI,
  });
}
