/**
 * The serving layer's part of the OpenAPI document (served at GET /api/v1/openapi.json by the
 * app the entry point composes). Parameters and bodies are generated from the schemas the
 * handlers parse with (query-schemas.ts); test/serving-layer/api.test.ts checks the document
 * against the routes the app registers.
 */
import { NO_QUERY } from '../shared/runtime/http/validate.ts';
import { OPENAPI_ERROR, OPENAPI_PLAUSIBLE_ERROR, OPENAPI_PLAUSIBLE_UNAVAILABLE, OPENAPI_UNAVAILABLE, openApiJson, type OpenApiPart } from '../shared/runtime/http/openapi.ts';
import { aggregateQuery, batchRunBody, batchRunsQuery, breakdownQuery, compareQuery, pageViewsPath, pageViewsQuery, realtimeQuery, timeseriesQuery } from './query-schemas.ts';

const json = openApiJson;
const error = OPENAPI_ERROR;

const readResponses = (description: string, properties: Record<string, unknown> = {}) => ({
  200: json(description, { exactThrough: { type: 'string', nullable: true, description: 'The batch boundary: buckets ending at or before it are exact.' }, ...properties }),
  400: error,
  401: error,
  403: error,
  503: OPENAPI_UNAVAILABLE,
});
const readSecurity = [{}, { readToken: [] }];

/** Routes of Plausible's Stats API v1: the same, with Plausible's error shape (`{"error":"<message>",code,details}`). */
const plausibleResponses = (description: string, properties: Record<string, unknown> = {}) => ({
  ...readResponses(description, properties),
  400: OPENAPI_PLAUSIBLE_ERROR,
  401: OPENAPI_PLAUSIBLE_ERROR,
  403: OPENAPI_PLAUSIBLE_ERROR,
  503: OPENAPI_PLAUSIBLE_UNAVAILABLE,
});

/** Filters across properties, after the boundary: the true count lies in [lower, upper] (shared/core/query/events-query.ts). */
const crossPropertyBounds = {
  lower: { type: 'integer', description: 'Filters across properties, after the boundary: the true count is at least this.' },
  upper: { type: 'integer', description: 'Filters across properties, after the boundary: the true count is at most this.' },
};

/** The labels beside a timeseries point's or a breakdown row's plain numbers (serving-layer/plausible-results.ts). */
const rowLabels = {
  pageviews: { type: 'integer' },
  visitors: { type: 'integer', nullable: true, description: 'Null only where visitors are not kept at this grain (the answer\'s note says why).' },
  exact: { type: 'boolean', description: 'Every value of the row comes from before the batch boundary.' },
  bounds: {
    type: 'object',
    description: 'Only when not exact: the bound of each approximate value.',
    properties: {
      pageviews: {
        type: 'object',
        properties: {
          overcount: { type: 'integer', description: 'Count-Min: may exceed the true count by at most this (99%).' },
          ...crossPropertyBounds,
        },
      },
      visitors: {
        type: 'object',
        properties: {
          relativeStandardError: { type: 'number', description: 'HyperLogLog: within ± value × this (~68%).' },
          ...crossPropertyBounds,
        },
      },
    },
  },
};

export const SERVING_OPENAPI: OpenApiPart = {
  operations: {
    'get /api/v1/pages/{pageId}/views': {
      summary: 'Page views of one page, as a time series and a total',
      security: readSecurity,
      path: pageViewsPath,
      query: pageViewsQuery,
      responses: readResponses('Series and total; speed buckets carry overcountBound.', { series: { type: 'array' }, total: { type: 'object' }, partial: { nullable: true } }),
    },
    'get /api/v1/stats/aggregate': {
      summary: 'Totals over a range: pageviews, visitors',
      security: readSecurity,
      query: aggregateQuery,
      responses: plausibleResponses('One value per metric (`{"value": N}` as Plausible\'s), with exact and its bound beside; with compare, `change` and `previous`. Absent fields are left out.', {
        results: { type: 'object', additionalProperties: { type: 'object', required: ['value'], properties: { value: { type: 'number' }, exact: { type: 'boolean' } } } },
      }),
    },
    'get /api/v1/stats/timeseries': {
      summary: 'Metrics per bucket',
      security: readSecurity,
      query: timeseriesQuery,
      responses: plausibleResponses("One point per bucket, as Plausible's: date (YYYY-MM-DD for day and month buckets, YYYY-MM-DD HH:MM:SS for hours and minutes) and each metric as a number, with exact and bounds beside.", {
        interval: { type: 'string', enum: ['minute', 'hour', 'day', 'month'] },
        results: { type: 'array', items: { type: 'object', required: ['date', 'exact'], properties: { date: { type: 'string' }, ...rowLabels } } },
      }),
    },
    'get /api/v1/stats/breakdown': {
      summary: 'Top values of a property by page views',
      security: readSecurity,
      query: breakdownQuery,
      responses: plausibleResponses(
        "Values by decreasing page views, as Plausible's rows: the value under the property's key (`page`, `source`, `country`, …) and each metric as a number, with exact and bounds beside.",
        {
          property: { type: 'string' },
          results: { type: 'array', items: { type: 'object', required: ['exact'], properties: { page: { type: 'string' }, source: { type: 'string' }, country: { type: 'string' }, ...rowLabels } } },
          total: { type: 'integer', description: 'How many values the breakdown has (all pages of rows).' },
        },
      ),
    },
    'get /api/v1/realtime/visitors': {
      summary: 'Distinct visitors in the last 5 minutes (speed layer)',
      security: readSecurity,
      query: realtimeQuery,
      responses: readResponses('Approximate, with its relative standard error.', { visitors: { type: 'object' } }),
    },
    'get /api/v1/realtime/stream': {
      summary: 'Realtime visitors and page views of a site (last 5 minutes), pushed as Server-Sent Events',
      security: readSecurity,
      query: realtimeQuery,
      responses: {
        200: {
          description:
            'A long-lived text/event-stream (not cut by the request deadline). At once, then whenever the numbers change (at most every 250 ms per site): ' +
            '`event: realtime` with `data:` {site, at, from, to, windowMs, visitors: {value, exact: false, relativeStandardError}, pageviews: {value, exact, overcountBound, partial?}, version}. ' +
            'A `: keep-alive` comment every 15 s. Read it with fetch() and a reader of the body (the Bearer header is sent; EventSource cannot send it). ' +
            'At most 1000 streams per process: beyond, 503 PV_TOO_MANY_STREAMS.',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
        400: error,
        401: error,
        403: error,
        503: OPENAPI_UNAVAILABLE,
      },
    },
    'get /api/v1/sites': {
      summary: 'The sites with page views, by name (for a site picker)',
      security: readSecurity,
      query: NO_QUERY,
      responses: {
        200: json("The sites of the latest batch version (all time) and of the speed views after its boundary, sorted by name.", {
          sites: { type: 'array', items: { type: 'object', required: ['site'], properties: { site: { type: 'string' } } } },
        }),
        400: error,
        401: error,
        403: error,
        503: OPENAPI_UNAVAILABLE,
      },
    },
    'get /api/v1/stats/realtime/visitors': {
      summary: "Distinct visitors in the last 5 minutes, as a bare number (Plausible's Stats API v1)",
      security: readSecurity,
      query: realtimeQuery,
      responses: { ...plausibleResponses('The number (approximate: the speed layer\'s HyperLogLog).'), 200: { description: 'The number of visitors.', content: { 'application/json': { schema: { type: 'integer' } } } } },
    },
    'get /api/v1/compare': {
      summary: 'Speed vs batch per bucket, for buckets both cover (before the boundary, still retained by the speed layer)',
      security: readSecurity,
      query: compareQuery,
      responses: readResponses('Rows with batch, speed, differences and whether the declared bound covers them.', {
        rows: { type: 'array' },
        totals: { type: 'object' },
        visitors: { nullable: true },
      }),
    },
    'get /api/v1/boundary': {
      summary: 'The batch boundary, speed-layer lag and freshness (operators)',
      security: readSecurity,
      query: NO_QUERY,
      responses: readResponses('Boundary and speed state.', { batch: { nullable: true }, speed: { type: 'object' } }),
    },
    'get /api/v1/batch/runs': {
      summary: 'Batch run history, newest first',
      security: readSecurity,
      query: batchRunsQuery,
      responses: readResponses('Runs.', { runs: { type: 'array' } }),
    },
    'post /api/v1/batch/runs': {
      summary: 'Request a batch run now (admin)',
      security: [{ adminToken: [] }],
      query: NO_QUERY,
      body: batchRunBody,
      responses: { 202: json('Requested; the lease holder runs it, exact through `cutoff` (default: the start of the current UTC hour).', { status: { type: 'string' }, requestId: { type: 'string' }, cutoff: { type: 'string', format: 'date-time' } }), 400: error, 401: error, 403: error, 503: OPENAPI_UNAVAILABLE },
    },
    'get /api/v1/health': { summary: 'Liveness', query: NO_QUERY, responses: { 200: json('Alive.', { status: { type: 'string' } }) } },
    'get /api/v1/ready': {
      summary: 'Readiness: the view store answers and the serving views have caught up with it (the log being down only degrades)',
      query: NO_QUERY,
      responses: {
        200: json('Ready.', { ready: { type: 'boolean' }, degraded: { type: 'boolean' }, views: { type: 'string', enum: ['current', 'behind'] } }),
        503: OPENAPI_UNAVAILABLE,
      },
    },
    'get /api/v1/openapi.json': { summary: 'This document', query: NO_QUERY, responses: { 200: json('OpenAPI 3 document.') } },
    'get /metrics': { summary: 'Prometheus metrics', query: NO_QUERY, responses: { 200: { description: 'Prometheus text format.', content: { 'text/plain': {} } } } },
  },
};
