/**
 * The serving layer's routes: the read API (merging batch and speed views at the boundary
 * through shared/core/query), batch operations, health, readiness and metrics. Stateless:
 * everything it answers comes from the log and the view store, so several instances give
 * identical answers. The entry point composes it with the collector (cli/platform-app.ts).
 */
import { Router, type Express } from 'express';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';
import type { PlatformMetrics } from '../shared/runtime/metrics.ts';
import type { ViewReader } from '../shared/adapters/view-store/index.ts';
import { ENVIRONMENT_VARIABLES as ENV } from '../shared/runtime/environment.ts';
import { createHttpApp } from '../shared/runtime/http/http-app.ts';
import { openApiDocument } from '../shared/runtime/http/openapi.ts';
import { requireReadKey } from '../shared/runtime/http/auth.ts';
import { errorShape } from '../shared/runtime/http/api-error.ts';
import { ServingViews } from './serving-views.ts';
import { VersionedAnswers } from './versioned-answers.ts';
import { dropErrorsAfterDeadline, requestDeadline } from './request-deadline.ts';
import { batchRouter } from './batch-routes.ts';
import { SERVING_OPENAPI } from './openapi.ts';
import { statsRouter } from './stats-routes.ts';
import { DASHBOARD_OPENAPI, dashboardRouter } from './dashboard-routes.ts';
import { queryPageViews, type PageViewsAnswer } from '../shared/core/query/index.ts';
import { NO_QUERY, asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import { spanOf } from './query-params.ts';
import { pageViewsPath, pageViewsQuery, realtimeQuery } from './query-schemas.ts';
import { RealtimeFeed, realtimeNumbers } from './realtime-feed.ts';
import { isoTime } from './iso-time.ts';

export interface ServingAppDeps {
  log: EventLog;
  /** The batch control topic; run requests go there. */
  controlLog: EventLog;
  /** Bearer token of admin routes; null disables them. */
  adminApiKey: string | null;
  /** Bearer tokens of the read API; empty or absent: open. */
  readApiKeys?: readonly string[];
  /** The view store; the serving layer only reads it. */
  store: ViewReader;
  /**
   * The views answers come from, held in memory and refreshed on their own timer
   * (serving-views.ts); `npm start` starts them before it listens. Absent: the router makes
   * its own over `store` and refreshes them before every read (tests and tools that write,
   * then read, and want to see their write).
   */
  views?: ServingViews;
  metrics: PlatformMetrics;
  logger: Logger;
  /**
   * Memory budget of the cache of batch reads the views do not hold (bytes), when the router
   * makes its own views. `npm start` sets it from SERVING_CACHE_BUDGET_MB.
   * @default SERVING_CACHE_BUDGET_MB's default (64 MiB)
   */
  cacheBudgetBytes?: number;
  /**
   * A read request still running after this long (ms) answers 503 with Retry-After.
   * `npm start` sets it from SERVING_REQUEST_TIMEOUT_MS.
   * @default SERVING_REQUEST_TIMEOUT_MS's default (10 s)
   */
  requestTimeoutMs?: number;
  /**
   * Serves GET /api/v1/stats/constant-probe: a constant answer through the read routes' whole
   * stack (auth, deadline, versioned ETag), whatever its query string, to measure the stack's
   * own cost (`npm run bench`).
   * @default false
   */
  constantProbe?: boolean;
  /**
   * GET /api/v1/realtime/stream: most streams open at a time (then 503), least time between two
   * computations of a site's numbers, and how often a keep-alive comment is sent (ms).
   * @default REALTIME_FEED_DEFAULTS (1000 streams, 250 ms, 15 s)
   */
  realtime?: { maxStreams?: number; throttleMs?: number; keepAliveMs?: number };
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

const MIB = 1024 * 1024;

/** Views over `store` for a router given none: refreshed before every read, never behind. */
function viewsRefreshedPerRead(deps: ServingAppDeps, now: () => number): ServingViews {
  return new ServingViews(deps.store, {
    refreshIntervalMs: 60_000, // unused: these views are never started, the router refreshes them per read
    maxStalenessMs: Number.POSITIVE_INFINITY,
    memoryBudgetBytes: ENV.SERVING_MEMORY_BUDGET_MB.default * MIB,
    cacheBudgetBytes: deps.cacheBudgetBytes ?? ENV.SERVING_CACHE_BUDGET_MB.default * MIB,
    logger: deps.logger,
    metrics: deps.metrics,
    now,
  });
}

const iso = isoTime;

export function pageViewsBody(site: string, pageId: string | null, answer: PageViewsAnswer): unknown {
  return {
    site,
    pageId,
    interval: answer.interval,
    from: iso(answer.from),
    to: iso(answer.to),
    exactThrough: answer.boundary === null ? null : iso(answer.boundary.cutoffTime),
    series: answer.series.map((p) =>
      p.exact ? { bucket: iso(p.bucket), views: p.views, exact: true } : { bucket: iso(p.bucket), views: p.views, exact: false, overcountBound: p.overcountBound },
    ),
    total: answer.total,
    partial: answer.partial === null ? null : { ...answer.partial, missingFrom: iso(answer.partial.missingFrom), missingTo: iso(answer.partial.missingTo) },
  };
}

/** Read routes: behind READ_API_KEYS when set, revalidated with ETags. */
export const READ_ROUTE_PREFIXES = ['/api/v1/pages', '/api/v1/stats', '/api/v1/realtime', '/api/v1/boundary', '/api/v1/batch/runs', '/api/v1/compare', '/api/v1/sites'];

/** How often views refreshed per read are refreshed while somebody listens to the realtime stream (ms). */
const STREAM_POLL_MS = 250;

/** One Server-Sent Events message. */
const sseMessage = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** The routes of Plausible's Stats API v1: their errors are written as Plausible's (`{"error":"<message>",…}`). */
export const PLAUSIBLE_ROUTES = ['/api/v1/stats/aggregate', '/api/v1/stats/timeseries', '/api/v1/stats/breakdown', '/api/v1/stats/realtime/visitors'];

/** A path under one of the read prefixes (the prefix itself or below it). */
const READ_ROUTES = new RegExp(`^(?:${READ_ROUTE_PREFIXES.map((p) => p.replace(/[/]/g, '\\/')).join('|')})(?:\\/.*)?$`, 'i'); // case-insensitive, as Express matches routes

/** The serving layer's routes, to be mounted in an HTTP app (shared/runtime/http/http-app.ts). */
export function servingRouter(deps: ServingAppDeps): Router {
  const { log, metrics } = deps;
  const now = deps.now ?? Date.now;
  const refreshPerRead = deps.views === undefined;
  const store = deps.views ?? viewsRefreshedPerRead(deps, now);
  const answers = new VersionedAnswers(store);
  const deadline = requestDeadline(deps.requestTimeoutMs ?? ENV.SERVING_REQUEST_TIMEOUT_MS.default, {
    logger: deps.logger,
    onTimeout: () => metrics.servingRequestTimeouts.inc(),
  });
  const readAuth = requireReadKey(deps.readApiKeys ?? []);
  const feed = new RealtimeFeed({
    views: store,
    compute: (site, at) => realtimeNumbers(store, site, at),
    logger: deps.logger,
    pollMs: refreshPerRead ? STREAM_POLL_MS : null,
    now,
    ...(deps.realtime?.maxStreams === undefined ? {} : { maxSubscribers: deps.realtime.maxStreams }),
    ...(deps.realtime?.throttleMs === undefined ? {} : { throttleMs: deps.realtime.throttleMs }),
    ...(deps.realtime?.keepAliveMs === undefined ? {} : { keepAliveMs: deps.realtime.keepAliveMs }),
  });
  const app = Router();

  // First, so that every error of these routes (auth, deadline, store, validation) takes their shape.
  app.use(PLAUSIBLE_ROUTES, errorShape('plausible'));
  // A long-lived stream: before the read routes' guard, so the request deadline does not cut it.
  app.get('/api/v1/realtime/stream', readAuth, (req, res) => {
    const { site } = parseInput(asQuery(realtimeQuery), req.query);
    feed.refuseWhenFull();
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    const unsubscribe = feed.subscribe(site, {
      message: (m) => res.write(sseMessage('realtime', m)),
      keepAlive: () => res.write(': keep-alive\n\n'),
    });
    res.once('close', unsubscribe);
  });
  // One route for every read prefix (one match per request, not one per prefix).
  app.get(READ_ROUTES, readAuth, deadline, async (_req, res, next) => {
    // Answers change as the speed layer moves: clients revalidate with the ETag.
    res.setHeader('Cache-Control', 'no-cache');
    if (refreshPerRead) await store.refresh();
    next();
  });
  if (deps.constantProbe === true) {
    const constant = { probe: 'constant', note: 'the read stack alone: auth, deadline, versioned ETag; no views read' };
    // Any query string is taken and ignored: the probe is loaded with the API's own requests.
    app.get('/api/v1/stats/constant-probe', async (req, res) => {
      await answers.send(req, res, 'constant-probe', () => Promise.resolve(constant));
    });
  }
  app.use(batchRouter(store, deps.controlLog, deps.adminApiKey, now));
  app.use(statsRouter(store, answers, now));

  app.get('/api/v1/health', (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    res.json({ status: 'ok' });
  });

  // Ready = can answer reads, which need the view store. With the log down, reads still work
  // (the collector answers 503): ready, but degraded.
  // Ready also needs the views caught up: a process that starts or falls behind says 503 until then.
  app.get('/api/v1/ready', async (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    const [logOk, storeOk] = await Promise.all([log.ping(), deps.store.ping()]);
    const viewsOk = !store.behind;
    const ready = storeOk && viewsOk;
    const body = { ready, degraded: !logOk || !storeOk, log: logOk ? 'up' : 'down', store: storeOk ? 'up' : 'down', views: viewsOk ? 'current' : 'behind' };
    if (!ready) res.setHeader('Retry-After', '5');
    res.status(ready ? 200 : 503).json(body);
  });

  app.get('/api/v1/pages/:pageId/views', async (req, res) => {
    const { site, interval, ...query } = parseInput(asQuery(pageViewsQuery), req.query);
    const { pageId } = parseInput(pageViewsPath, req.params);
    const range = spanOf(query, now(), interval);
    await answers.send(req, res, `pages|${site}|${pageId}|${interval}|${range.from}|${range.to}`, async () =>
      pageViewsBody(site, pageId, await queryPageViews(store, { site, pageId, ...range, interval })),
    );
  });

  // The sites with page views, by name: memory only but for one read per batch version.
  app.get('/api/v1/sites', async (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    await answers.send(req, res, 'sites', async () => ({ sites: (await store.sites()).map((site) => ({ site })) }));
  });

  app.get('/api/v1/boundary', async (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    const [boundary, checkpoints, retainedFrom] = await Promise.all([store.latestBoundary(), store.speedCheckpoints(), store.speedRetainedFrom()]);
    // The log may be down: the boundary and checkpoints still answer, lag is then unknown.
    const endOffsets = await log.endOffsets().catch(() => null);
    const partitionIds = [...new Set([...(endOffsets?.keys() ?? []), ...checkpoints.keys()])].sort((a, b) => a - b);
    const partitions = partitionIds.map((partition) => {
      const cp = checkpoints.get(partition);
      const end = endOffsets?.get(partition) ?? null;
      return {
        partition,
        endOffset: end,
        checkpointedOffset: cp?.nextOffset ?? 0,
        lag: end === null ? null : end - (cp?.nextOffset ?? 0),
        // The highest event time the partition has counted (informational: late events are counted whatever it is).
        maxEventTime: cp === undefined || cp.maxEventTime === 0 ? null : iso(cp.maxEventTime),
      };
    });
    const lastCheckpoint = Math.max(0, ...[...checkpoints.values()].map((cp) => cp.version));
    res.json({
      exactThrough: boundary === null ? null : iso(boundary.cutoffTime),
      batch: boundary === null ? null : { ...boundary, cutoffTime: iso(boundary.cutoffTime), publishedAt: iso(boundary.publishedAt) },
      speed: {
        partitions,
        lag: endOffsets === null ? null : partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0),
        // Checkpoint versions are wall-clock ms: the newest one is when speed views last changed.
        lastCheckpointAt: lastCheckpoint === 0 ? null : iso(lastCheckpoint),
        freshnessMs: lastCheckpoint === 0 ? null : Math.max(0, now() - lastCheckpoint),
        retainedFrom: retainedFrom === null ? null : iso(retainedFrom),
      },
      ...(endOffsets === null ? { degraded: { log: 'down' } } : {}),
    });
  });

  app.get('/metrics', async (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  app.use(dropErrorsAfterDeadline(deps.logger));

  return app;
}

/** An HTTP app serving the serving layer and its dashboard alone (the collector is composed in by the entry point). */
export function createServingApp(deps: ServingAppDeps): Express {
  return createHttpApp({ metrics: deps.metrics, logger: deps.logger, routers: [servingRouter(deps), dashboardRouter()], openApiDocument: openApiDocument([SERVING_OPENAPI, DASHBOARD_OPENAPI]) });
}
