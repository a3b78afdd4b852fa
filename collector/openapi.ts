/** The collector's part of the OpenAPI document: POST /api/v1/events and the PageView schema. */
import { OPENAPI_ERROR, OPENAPI_UNAVAILABLE, openApiJson, type OpenApiPart } from '../shared/runtime/http/openapi.ts';
import { MAX_EVENTS_PER_REQUEST } from './collector.ts';

const error = OPENAPI_ERROR;
const json = openApiJson;

export const COLLECTOR_OPENAPI: OpenApiPart = {
  schemas: {
    PageView: {
      type: 'object',
      required: ['eventId', 'pageId', 'visitorId', 'timestamp'],
      additionalProperties: false,
      properties: {
        eventId: { type: 'string', format: 'uuid' },
        site: { type: 'string', default: 'default', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', maxLength: 100 },
        pageId: { type: 'string', pattern: '^/', maxLength: 2048 },
        visitorId: { type: 'string', maxLength: 200 },
        timestamp: { oneOf: [{ type: 'integer', description: 'epoch ms' }, { type: 'string', format: 'date-time' }] },
        referrer: { type: 'string', maxLength: 2048 },
        userAgent: { type: 'string', maxLength: 1024 },
        schemaVersion: { type: 'integer', enum: [1] },
        type: { type: 'string', enum: ['page_view'] },
      },
    },
  },
  paths: {
    '/api/v1/events': {
      post: {
        summary: `Collect one page view or an array of up to ${MAX_EVENTS_PER_REQUEST}`,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: { oneOf: [{ $ref: '#/components/schemas/PageView' }, { type: 'array', maxItems: MAX_EVENTS_PER_REQUEST, items: { $ref: '#/components/schemas/PageView' } }] },
            },
          },
        },
        responses: {
          202: json('Every event is durably in the log.', { accepted: { type: 'integer' } }),
          400: error,
          413: error,
          503: OPENAPI_UNAVAILABLE,
        },
      },
    },
  },
};
