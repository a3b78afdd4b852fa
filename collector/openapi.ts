/** The collector's part of the OpenAPI document: POST /api/v1/events, its body generated from the event schema. */
import { z } from 'zod';
import { PAGE_VIEW_INPUT } from '../shared/core/page-view.ts';
import { OPENAPI_ERROR, OPENAPI_UNAVAILABLE, openApiJson, openApiSchema, type OpenApiPart } from '../shared/runtime/http/openapi.ts';
import { NO_QUERY } from '../shared/runtime/http/validate.ts';
import { MAX_EVENTS_PER_REQUEST } from './collector.ts';

/** What POST /api/v1/events takes: one event, or an array of up to MAX_EVENTS_PER_REQUEST (validated item by item with PAGE_VIEW_INPUT). */
export const EVENTS_BODY = z.union([PAGE_VIEW_INPUT, z.array(PAGE_VIEW_INPUT).min(1).max(MAX_EVENTS_PER_REQUEST)]);

export const COLLECTOR_OPENAPI: OpenApiPart = {
  schemas: { PageView: openApiSchema(PAGE_VIEW_INPUT) },
  operations: {
    'post /api/v1/events': {
      summary: `Collect one page view or an array of up to ${MAX_EVENTS_PER_REQUEST}`,
      query: NO_QUERY,
      body: EVENTS_BODY,
      bodyRequired: true,
      responses: {
        202: openApiJson('Every event is durably in the log.', { accepted: { type: 'integer' } }),
        400: OPENAPI_ERROR,
        413: OPENAPI_ERROR,
        503: OPENAPI_UNAVAILABLE,
      },
    },
  },
};
