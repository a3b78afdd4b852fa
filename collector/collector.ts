/**
 * The collector: the ingestion endpoints, in front of the log.
 *
 * - `POST /api/v1/events` (the product's API, for servers) takes one event or an array,
 *   validates every event, and appends the batch with one durable append. A request is
 *   all-or-nothing: if any event is invalid, none is written and the answer is 400 with the
 *   errors of each invalid item. Events whose `userAgent` is a bot are dropped (counted, and
 *   reported as `dropped` in the answer).
 * - `POST /api/event` (Plausible's events API, for browsers and Plausible's trackers) takes
 *   one Plausible payload as JSON or text/plain. The server makes the event id and the
 *   cookieless visitor id (collector/visitor-salts.ts); requests from bots are dropped.
 *
 * Every event is enriched once, here (collector/enrichment): source, UTM, device, browser, OS,
 * and, for browser requests, country; both layers read the same fields (event schema v2).
 * 202 means every event is durably in the log (Kafka: acks from all in-sync replicas). 503
 * with Retry-After means nothing was written: send again. Both endpoints answer CORS
 * preflights and are rate limited per client IP (429 with Retry-After), each with its own limit.
 */
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { Router, json, text, type Request, type RequestHandler, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { encodePageView, pageViewKey, validatePageView, VISIT_FIELDS, type FieldError, type PageView, type VisitField, type VisitFields } from '../shared/core/page-view.ts';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { PlatformMetrics } from '../shared/runtime/metrics.ts';
import { ApiError, sendError } from '../shared/runtime/http/api-error.ts';
import { NO_QUERY, asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import type { VisitContext } from './enrichment/index.ts';
import { PLAUSIBLE_EVENT_INPUT, PLAUSIBLE_IGNORED_EVENTS, pageIdOf } from './plausible-event.ts';
import type { VisitorSalts } from './visitor-salts.ts';

/** Most events in one request. */
export const MAX_EVENTS_PER_REQUEST = 1000;
/** Largest request body of `POST /api/v1/events`. */
export const MAX_BODY_BYTES = 1_048_576;
/** Largest request body of `POST /api/event` (one Plausible payload). */
export const MAX_PLAUSIBLE_BODY_BYTES = 65_536;

/** What the collector needs from the enrichment (collector/enrichment). */
export interface VisitEnricher {
  enrich(context: VisitContext): Promise<VisitFields>;
  /** Every field but the country (which needs the client IP), without a promise. */
  enrichSync(context: VisitContext): VisitFields;
  isBot(userAgent: string | undefined): boolean;
}

export interface CollectorOptions {
  /** Requests per minute per client IP on `POST /api/event` (browsers); 0 turns the limit off. @default 1200 */
  rateLimitPerMinute?: number;
  /** Requests per minute per client IP on `POST /api/v1/events` (servers, up to 1000 events each); 0 turns the limit off. @default 60000 */
  serverRateLimitPerMinute?: number;
  /** Per site, the origins allowed to send its events from a browser; sites not listed accept any origin. @default none */
  allowedOrigins?: ReadonlyMap<string, readonly string[]>;
  /** Current time, epoch ms (the time of `/api/event` events, and the day of their visitor-id salt). @default Date.now */
  clock?: () => number;
}

export const COLLECTOR_DEFAULTS = { rateLimitPerMinute: 1200, serverRateLimitPerMinute: 60_000 } as const;

export interface CollectorDeps {
  log: EventLog;
  metrics: PlatformMetrics;
  salts: VisitorSalts;
  enrichment: VisitEnricher;
  options?: CollectorOptions;
}

export interface ItemErrors {
  index: number;
  errors: FieldError[];
}

/**
 * The body parser would repair invalid UTF-8 into U+FFFD, and the event would be stored
 * changed: refuse it instead (400, nothing written).
 */
function requireUtf8(_req: unknown, _res: unknown, body: Buffer): void {
  if (!isUtf8(body)) throw Object.assign(new Error('request body is not valid UTF-8'), { status: 400, type: 'entity.verify.failed' });
}

const INGEST_PATHS = ['/api/event', '/api/v1/events'];

/**
 * CORS for the ingestion endpoints: browsers on any site may send events (a preflight is
 * answered for any origin: it carries no body, so no site to check). A site listed in
 * `allowedOrigins` takes events only from its origins; {@link checkOrigin} refuses the others.
 */
function ingestCors(): RequestHandler {
  return (req, res, next) => {
    const origin = req.headers.origin;
    res.setHeader('Access-Control-Allow-Origin', origin ?? '*');
    if (origin !== undefined) res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Content-Type');
      res.setHeader('Access-Control-Max-Age', '86400');
      res.status(204).end();
      return;
    }
    next();
  };
}

/** Copies the derived visit fields the event does not carry already (a v2 event's own fields win). */
function withVisitFields(event: PageView, fields: VisitFields): PageView {
  const out = { ...event, schemaVersion: 2 } as PageView;
  const target = out as unknown as Record<VisitField, unknown>;
  for (const field of VISIT_FIELDS) if (target[field] === undefined && fields[field] !== undefined) target[field] = fields[field];
  return out;
}

export function collectorRouter(deps: CollectorDeps): Router {
  const { log, metrics, salts, enrichment } = deps;
  const options = { ...COLLECTOR_DEFAULTS, ...deps.options };
  const clock = options.clock ?? Date.now;
  const allowedOrigins = options.allowedOrigins ?? new Map<string, readonly string[]>();
  const router = Router();

  router.use(INGEST_PATHS, ingestCors());
  const limits: [path: string, perMinute: number, variable: string][] = [
    ['/api/event', options.rateLimitPerMinute, 'INGEST_RATE_LIMIT'],
    ['/api/v1/events', options.serverRateLimitPerMinute, 'INGEST_SERVER_RATE_LIMIT'],
  ];
  for (const [path, perMinute, variable] of limits) {
    if (perMinute <= 0) continue;
    router.use(
      path,
      rateLimit({
        windowMs: 60_000,
        limit: perMinute,
        standardHeaders: 'draft-7',
        legacyHeaders: false,
        // Trusting X-Forwarded-For is TRUST_PROXY's decision (req.ip), documented there.
        validate: { xForwardedForHeader: false, trustProxy: false },
        handler: (req: Request, res: Response) => {
          metrics.collectorDropped.inc({ reason: 'rate_limited' });
          const resetTime = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
          const seconds = resetTime === undefined ? 60 : Math.ceil((resetTime.getTime() - Date.now()) / 1000);
          res.setHeader('Retry-After', String(Math.min(60, Math.max(1, seconds))));
          sendError(res, 429, 'PV_RATE_LIMITED', `more than ${perMinute} requests per minute from this address (${variable}): retry after the time in Retry-After`);
        },
      }),
    );
  }

  /** Appends validated events; 503 (nothing written) when the log cannot take them. */
  const append = async (events: readonly PageView[]): Promise<void> => {
    try {
      await log.append(events.map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })));
    } catch (err) {
      metrics.collectorEvents.inc({ outcome: 'unavailable' }, events.length);
      throw err;
    }
    metrics.collectorEvents.inc({ outcome: 'accepted' }, events.length);
  };

  /** A browser's events for a site listed in allowedOrigins must come from one of its origins. */
  const checkOrigin = (req: Request, site: string): void => {
    const allowed = allowedOrigins.get(site);
    const origin = req.headers.origin;
    if (allowed === undefined || origin === undefined || allowed.includes(origin)) return;
    metrics.collectorDropped.inc({ reason: 'origin' });
    throw new ApiError(403, 'PV_FORBIDDEN', `events for site '${site}' are not accepted from origin ${origin} (INGEST_ALLOWED_ORIGINS)`);
  };

  router.post('/api/v1/events', json({ limit: MAX_BODY_BYTES, strict: false, type: () => true, verify: requireUtf8 }), async (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    const body: unknown = req.body;
    const items = Array.isArray(body) ? body : [body];
    if (body === undefined || body === null || items.length === 0) {
      throw new ApiError(400, 'PV_EVENT_INVALID', 'send one event object or a non-empty array of events');
    }
    if (items.length > MAX_EVENTS_PER_REQUEST) {
      throw new ApiError(400, 'PV_EVENT_INVALID', `at most ${MAX_EVENTS_PER_REQUEST} events per request, got ${items.length}`);
    }
    const events: PageView[] = [];
    const invalid: ItemErrors[] = [];
    items.forEach((item, index) => {
      const result = validatePageView(item);
      if (result.ok) events.push(result.event);
      else invalid.push({ index, errors: result.errors });
    });
    if (invalid.length > 0) {
      metrics.collectorEvents.inc({ outcome: 'rejected' }, items.length);
      throw new ApiError(400, 'PV_EVENT_INVALID', `${invalid.length} of ${items.length} events are invalid; nothing was written`, invalid);
    }
    for (const event of events) checkOrigin(req, event.site);
    // Servers need not send a user agent: only one that names a bot drops an event.
    const kept = events.filter((e) => e.userAgent === undefined || !enrichment.isBot(e.userAgent));
    const dropped = events.length - kept.length;
    if (dropped > 0) metrics.collectorDropped.inc({ reason: 'bot' }, dropped);
    // Servers post for their visitors: the request's address is the server's, so no country from
    // it, and nothing to wait for per event.
    const enriched = kept.map((e) => withVisitFields(e, enrichment.enrichSync({ referrer: e.referrer, userAgent: e.userAgent })));
    if (enriched.length > 0) await append(enriched);
    res.status(202).json(dropped > 0 ? { accepted: enriched.length, dropped } : { accepted: enriched.length });
  });

  router.post('/api/event', text({ limit: MAX_PLAUSIBLE_BODY_BYTES, type: () => true, verify: requireUtf8 }), async (req, res) => {
    parseInput(asQuery(NO_QUERY), req.query);
    let body: unknown;
    try {
      body = JSON.parse(typeof req.body === 'string' ? req.body : '');
    } catch (err) {
      throw new ApiError(400, 'PV_BODY_INVALID', `request body is not valid JSON: ${(err as Error).message}`);
    }
    const payload = parseInput(PLAUSIBLE_EVENT_INPUT, body, 'PV_EVENT_INVALID');
    const userAgent = req.headers['user-agent'];
    if (enrichment.isBot(userAgent)) {
      metrics.collectorDropped.inc({ reason: 'bot' }, payload.d.length);
      res.setHeader('X-Plausible-Dropped', '1').status(202).type('text/plain').send('ok');
      return;
    }
    if (PLAUSIBLE_IGNORED_EVENTS.has(payload.n)) {
      metrics.collectorDropped.inc({ reason: 'ignored_event' }, payload.d.length);
      res.setHeader('X-Plausible-Dropped', '1').status(202).type('text/plain').send('ok');
      return;
    }
    for (const site of payload.d) checkOrigin(req, site);
    const now = clock();
    const clientIp = req.ip ?? req.socket.remoteAddress ?? '';
    const context: VisitContext = { pageUrl: payload.u, clientIp };
    if (payload.r !== undefined && payload.r !== null && payload.r !== '') context.referrer = payload.r;
    if (userAgent !== undefined) context.userAgent = userAgent;
    if (payload.w !== undefined && payload.w !== null) context.screenWidth = payload.w;
    const fields = await enrichment.enrich(context);
    const pageId = pageIdOf(payload.u, payload.h === true || payload.h === 1);
    const events: PageView[] = [];
    for (const site of payload.d) {
      const result = validatePageView({
        schemaVersion: 2,
        eventId: randomUUID(),
        site,
        pageId,
        visitorId: await salts.visitorId(now, site, clientIp, userAgent ?? ''),
        timestamp: now,
        referrer: context.referrer ?? null,
        ...fields,
      });
      if (!result.ok) {
        metrics.collectorEvents.inc({ outcome: 'rejected' }, payload.d.length);
        const byPlausibleName: Record<string, string> = { pageId: 'u', site: 'd', referrer: 'r' };
        const problems = result.errors.map((e) => ({ field: byPlausibleName[e.field] ?? e.field, message: e.message }));
        throw new ApiError(400, 'PV_EVENT_INVALID', problems.map((p) => `${p.field}: ${p.message}`).join('; '), problems);
      }
      events.push(result.event);
    }
    await append(events);
    res.status(202).type('text/plain').send('ok');
  });
  return router;
}
