/**
 * The collector: `POST /api/v1/events` takes one event or an array, validates every
 * event, and appends the batch to the log with one durable append.
 *
 * A request is all-or-nothing: if any event is invalid, none is written and the answer
 * is 400 with the errors of each invalid item, so a client never has to work out which
 * part of a batch was kept. 202 means every event is durably in the log (Kafka: acks from
 * all in-sync replicas). 503 with Retry-After means nothing was written: send again.
 */
import { isUtf8 } from 'node:buffer';
import { Router, json } from 'express';
import { encodePageView, pageViewKey, validatePageView, type FieldError, type PageView } from '../shared/core/page-view.ts';
import type { EventLog } from '../shared/adapters/event-log/index.ts';
import type { PlatformMetrics } from '../shared/runtime/metrics.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';
import { NO_QUERY, asQuery, parseInput } from '../shared/runtime/http/validate.ts';

/** Most events in one request. */
export const MAX_EVENTS_PER_REQUEST = 1000;
/** Largest request body. */
export const MAX_BODY_BYTES = 1_048_576;

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

export function collectorRouter(log: EventLog, metrics: PlatformMetrics): Router {
  const router = Router();
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
      throw new ApiError(
        400,
        'PV_EVENT_INVALID',
        `${invalid.length} of ${items.length} events are invalid; nothing was written`,
        invalid,
      );
    }
    try {
      await log.append(events.map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })));
    } catch (err) {
      metrics.collectorEvents.inc({ outcome: 'unavailable' }, events.length);
      throw err;
    }
    metrics.collectorEvents.inc({ outcome: 'accepted' }, events.length);
    res.status(202).json({ accepted: events.length });
  });
  return router;
}
