/**
 * The serving layer's part of the OpenAPI document (served at GET /api/v1/openapi.json by the
 * app the entry point composes). test/serving-layer/api.test.ts checks the document against
 * the routes the app registers.
 */
import { METRICS, METRIC_NAMES } from '../shared/core/query/index.ts';
import { INTERVALS } from '../shared/core/time-buckets.ts';
import { OPENAPI_ERROR, OPENAPI_UNAVAILABLE, openApiJson, openApiParam, type OpenApiPart } from '../shared/runtime/http/openapi.ts';
import { PERIODS } from './query-params.ts';

const param = openApiParam;
const json = openApiJson;
const error = OPENAPI_ERROR;
const site = param('site', "Site id (default 'default').");
const from = param('from', 'Start, inclusive: ISO-8601 with a zone, or epoch ms. Floored to the interval.');
const to = param('to', 'End, exclusive: ISO-8601 with a zone, or epoch ms. Ceiled to the interval. Default: now.');
const period = param('period', 'A preset instead of from/to (UTC): day = today, 7d and 30d end with today, month = this month, 12mo.', { type: 'string', enum: PERIODS });
const interval = param('interval', 'Bucket width (UTC).', { type: 'string', enum: INTERVALS });
const metrics = param('metrics', `Comma-separated, any of: ${METRIC_NAMES.map((m) => `${m} (${METRICS[m].description})`).join('; ')}.`);
const page = param('page', "Only this page (its path, e.g. '/pricing').");

const readResponses = (description: string, properties: Record<string, unknown> = {}) => ({
  200: json(description, { exactThrough: { type: 'string', nullable: true, description: 'The batch boundary: buckets ending at or before it are exact.' }, ...properties }),
  400: error,
  401: error,
  403: error,
  503: OPENAPI_UNAVAILABLE,
});
const readSecurity = [{}, { readToken: [] }];

export const SERVING_OPENAPI: OpenApiPart = {
  paths: {
    '/api/v1/pages/{pageId}/views': {
      get: {
        summary: 'Page views of one page, as a time series and a total',
        security: readSecurity,
        parameters: [param('pageId', "The page's path, URL-encoded; the leading '/' may be left out.", { type: 'string' }, 'path', true), from, to, interval, site],
        responses: readResponses('Series and total; speed buckets carry overcountBound.', { series: { type: 'array' }, total: { type: 'object' }, partial: { nullable: true } }),
      },
    },
    '/api/v1/stats/aggregate': {
      get: {
        summary: 'Totals over a range: pageviews, visitors',
        security: readSecurity,
        parameters: [metrics, period, from, to, site, page],
        responses: readResponses('One value per metric, with exact and its bound.', { results: { type: 'object' } }),
      },
    },
    '/api/v1/stats/timeseries': {
      get: {
        summary: 'Metrics per bucket',
        security: readSecurity,
        parameters: [metrics, interval, period, from, to, site, page],
        responses: readResponses('One point per bucket.', { series: { type: 'array' } }),
      },
    },
    '/api/v1/stats/breakdown': {
      get: {
        summary: 'Top pages by page views',
        security: readSecurity,
        parameters: [
          param('property', 'What to break down by.', { type: 'string', enum: ['page'] }),
          param('metrics', 'pageviews (the only metric of this breakdown).'),
          period,
          from,
          to,
          param('limit', 'Pages per answer (1-1000, default 10).', { type: 'integer' }),
          param('offset', 'Pages to skip (default 0).', { type: 'integer' }),
          site,
        ],
        responses: readResponses('Pages by decreasing page views.', { results: { type: 'array' }, totalPages: { type: 'integer' } }),
      },
    },
    '/api/v1/realtime/visitors': {
      get: {
        summary: 'Distinct visitors in the last 5 minutes (speed layer)',
        security: readSecurity,
        parameters: [site],
        responses: readResponses('Approximate, with its relative standard error.', { visitors: { type: 'object' } }),
      },
    },
    '/api/v1/compare': {
      get: {
        summary: 'Speed vs batch per bucket, for buckets both cover (before the boundary, still retained by the speed layer)',
        security: readSecurity,
        parameters: [param('interval', 'Bucket width.', { type: 'string', enum: ['hour', 'day'] }), period, from, to, site, page],
        responses: readResponses('Rows with batch, speed, differences and whether the declared bound covers them.', {
          rows: { type: 'array' },
          totals: { type: 'object' },
          visitors: { nullable: true },
        }),
      },
    },
    '/api/v1/boundary': {
      get: {
        summary: 'The batch boundary, speed-layer lag and freshness (operators)',
        security: readSecurity,
        responses: readResponses('Boundary and speed state.', { batch: { nullable: true }, speed: { type: 'object' } }),
      },
    },
    '/api/v1/batch/runs': {
      get: {
        summary: 'Batch run history, newest first',
        security: readSecurity,
        parameters: [param('limit', 'Runs per answer (1-1000, default 20).', { type: 'integer' })],
        responses: readResponses('Runs.', { runs: { type: 'array' } }),
      },
      post: {
        summary: 'Request a batch run now (admin)',
        security: [{ adminToken: [] }],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: { type: 'object', additionalProperties: false, properties: { cutoff: { type: 'string' }, full: { type: 'boolean' } } },
            },
          },
        },
        responses: { 202: json('Requested; the lease holder runs it.', { status: { type: 'string' }, requestId: { type: 'string' } }), 400: error, 401: error, 403: error, 503: OPENAPI_UNAVAILABLE },
      },
    },
    '/api/v1/health': { get: { summary: 'Liveness', responses: { 200: json('Alive.', { status: { type: 'string' } }) } } },
    '/api/v1/ready': {
      get: {
        summary: 'Readiness: the view store answers (the log being down only degrades)',
        responses: { 200: json('Ready.', { ready: { type: 'boolean' }, degraded: { type: 'boolean' } }), 503: OPENAPI_UNAVAILABLE },
      },
    },
    '/api/v1/openapi.json': { get: { summary: 'This document', responses: { 200: json('OpenAPI 3 document.') } } },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text format.', content: { 'text/plain': {} } } } } },
  },
};
