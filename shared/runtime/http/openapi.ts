/**
 * The OpenAPI 3 document of an HTTP app, assembled from the parts its routers contribute
 * (each layer describes its own paths), with the components every part shares: the error
 * shape, the unavailable answer and the bearer-token schemes.
 */

import { z } from 'zod';

/**
 * One operation of a router, with the schemas its handler parses its input with
 * (validate.ts): the document's parameters and request body are generated from them, so
 * they cannot drift from the validation.
 */
export interface OpenApiOperation {
  summary: string;
  security?: unknown[];
  /** The query string's schema; every operation has one (an empty one rejects any parameter). */
  query: z.ZodType;
  /** Path parameters' schema. */
  path?: z.ZodType;
  /** The JSON body's schema. */
  body?: z.ZodType;
  bodyRequired?: boolean;
  responses: Record<string, unknown>;
}

/** What a router contributes to the document: operations keyed `"get /api/v1/…"` (OpenAPI path syntax). */
export interface OpenApiPart {
  operations: Record<string, OpenApiOperation>;
  schemas?: Record<string, unknown>;
}

type JsonSchema = { properties?: Record<string, Record<string, unknown>>; required?: string[] } & Record<string, unknown>;

/** The OpenAPI 3.0 form of a schema as a client sends it (input side). */
export function openApiSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** OpenAPI parameters from an object schema: one per property, described by its metadata. */
export function openApiParameters(schema: z.ZodType, where: 'query' | 'path'): Record<string, unknown>[] {
  const json = openApiSchema(schema);
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: where, required: where === 'path' || (json.required ?? []).includes(name), ...(description === undefined ? {} : { description }), schema: rest };
  });
}

function pathsOf(operations: Record<string, OpenApiOperation>): Record<string, Record<string, unknown>> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, op] of Object.entries(operations)) {
    const [method, path] = key.split(' ') as [string, string];
    const parameters = [...(op.path === undefined ? [] : openApiParameters(op.path, 'path')), ...openApiParameters(op.query, 'query')];
    (paths[path] ??= {})[method] = {
      summary: op.summary,
      ...(op.security === undefined ? {} : { security: op.security }),
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(op.body === undefined ? {} : { requestBody: { required: op.bodyRequired ?? false, content: { 'application/json': { schema: openApiSchema(op.body) } } } }),
      responses: op.responses,
    };
  }
  return paths;
}

export const openApiJson = (description: string, properties: Record<string, unknown> = {}) => ({
  description,
  content: { 'application/json': { schema: { type: 'object', properties } } },
});

export const OPENAPI_ERROR = { $ref: '#/components/responses/Error' } as const;
export const OPENAPI_UNAVAILABLE = { $ref: '#/components/responses/Unavailable' } as const;
/** The errors of routes that speak Plausible's Stats API v1 (api-error.ts, `errorShape('plausible')`): the message as the `error` string. */
export const OPENAPI_PLAUSIBLE_ERROR = { $ref: '#/components/responses/PlausibleError' } as const;
export const OPENAPI_PLAUSIBLE_UNAVAILABLE = { $ref: '#/components/responses/PlausibleUnavailable' } as const;

export function openApiDocument(parts: readonly OpenApiPart[]): { openapi: string; paths: Record<string, Record<string, unknown>> } & Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'pageview-lambda',
      version: '1',
      description:
        'Page-view analytics on a Lambda architecture. Buckets before the batch boundary (exactThrough) are exact; later ones come from the speed layer and are approximate, each with its bound. All times are UTC.',
    },
    servers: [{ url: 'http://127.0.0.1:3000' }],
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' },
        readToken: { type: 'http', scheme: 'bearer', description: 'One of READ_API_KEYS (only when set).' },
      },
      schemas: {
        ...Object.assign({}, ...parts.map((p) => p.schemas ?? {})),
        Error: {
          type: 'object',
          description: 'The error of every route but those of Plausible\'s Stats API v1.',
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
        PlausibleError: {
          type: 'object',
          description: "The error of the routes of Plausible's Stats API v1 (/api/v1/stats/aggregate, timeseries, breakdown, realtime/visitors): the message as the `error` string, as Plausible's clients print it, with the code and details beside it.",
          required: ['error', 'code'],
          properties: { error: { type: 'string' }, code: { type: 'string' }, details: {} },
        },
      },
      responses: {
        Error: { description: 'Invalid request, or not allowed.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        Unavailable: {
          description: 'A backend is unreachable; retry after the Retry-After header.',
          headers: { 'Retry-After': { schema: { type: 'integer' } } },
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
        PlausibleError: { description: 'Invalid request, or not allowed.', content: { 'application/json': { schema: { $ref: '#/components/schemas/PlausibleError' } } } },
        PlausibleUnavailable: {
          description: 'A backend is unreachable, or the request outlived its deadline; retry after the Retry-After header.',
          headers: { 'Retry-After': { schema: { type: 'integer' } } },
          content: { 'application/json': { schema: { $ref: '#/components/schemas/PlausibleError' } } },
        },
      },
    },
    paths: pathsOf(Object.assign({}, ...parts.map((p) => p.operations)) as Record<string, OpenApiOperation>),
  };
}
