/** The collector's part of the OpenAPI document: its two ingestion endpoints, their bodies generated from the schemas that validate them. */
import { z } from 'zod';
import { PAGE_VIEW_INPUT } from '../shared/core/page-view.ts';
import { OPENAPI_ERROR, OPENAPI_UNAVAILABLE, openApiJson, openApiSchema, type OpenApiPart } from '../shared/runtime/http/openapi.ts';
import { NO_QUERY } from '../shared/runtime/http/validate.ts';
import { MAX_EVENTS_PER_REQUEST } from './collector.ts';
import { PLAUSIBLE_EVENT_INPUT } from './plausible-event.ts';

/** What POST /api/v1/events takes: one event, or an array of up to MAX_EVENTS_PER_REQUEST (validated item by item with PAGE_VIEW_INPUT). */
export const EVENTS_BODY = z.union([PAGE_VIEW_INPUT, z.array(PAGE_VIEW_INPUT).min(1).max(MAX_EVENTS_PER_REQUEST)]);

const TOO_MANY = { description: 'Over the rate limit from this address (INGEST_RATE_LIMIT; INGEST_SERVER_RATE_LIMIT on /api/v1/events): retry after Retry-After seconds. Nothing was written.' };
const OK_TEXT = (description: string) => ({ description, content: { 'text/plain': { schema: { type: 'string', example: 'ok' } } } });

export const COLLECTOR_OPENAPI: OpenApiPart = {
  schemas: { PageView: openApiSchema(PAGE_VIEW_INPUT), PlausibleEvent: openApiSchema(PLAUSIBLE_EVENT_INPUT) },
  operations: {
    'post /api/v1/events': {
      summary: `Collect one page view or an array of up to ${MAX_EVENTS_PER_REQUEST} (servers); events whose userAgent is a bot are dropped`,
      query: NO_QUERY,
      body: EVENTS_BODY,
      bodyRequired: true,
      responses: {
        202: openApiJson('Every event kept is durably in the log.', { accepted: { type: 'integer' }, dropped: { type: 'integer', description: 'Events dropped as bots (absent when none).' } }),
        400: OPENAPI_ERROR,
        403: OPENAPI_ERROR,
        413: OPENAPI_ERROR,
        429: TOO_MANY,
        503: OPENAPI_UNAVAILABLE,
      },
    },
    'post /api/event': {
      summary:
        "Plausible's events API (browsers, the tracker script, Plausible's trackers): one payload as JSON or text/plain. " +
        'The server makes the event id and the visitor id; only "pageview" is counted, "engagement" is accepted and not stored.',
      query: NO_QUERY,
      body: PLAUSIBLE_EVENT_INPUT,
      bodyRequired: true,
      responses: {
        202: OK_TEXT('Counted, durably in the log; or, with `X-Plausible-Dropped: 1`, dropped (a bot, or an event kind not stored).'),
        400: OPENAPI_ERROR,
        403: OPENAPI_ERROR,
        413: OPENAPI_ERROR,
        429: TOO_MANY,
        503: OPENAPI_UNAVAILABLE,
      },
    },
  },
};
