/**
 * The OpenAPI 3 document of an HTTP app, assembled from the parts its routers contribute
 * (each layer describes its own paths), with the components every part shares: the error
 * shape, the unavailable answer and the bearer-token schemes.
 */

/** What a router contributes to the document. */
export interface OpenApiPart {
  paths: Record<string, unknown>;
  schemas?: Record<string, unknown>;
}

export const openApiParam = (name: string, description: string, schema: Record<string, unknown> = { type: 'string' }, where = 'query', required = false) => ({
  name,
  in: where,
  required,
  description,
  schema,
});

export const openApiJson = (description: string, properties: Record<string, unknown> = {}) => ({
  description,
  content: { 'application/json': { schema: { type: 'object', properties } } },
});

export const OPENAPI_ERROR = { $ref: '#/components/responses/Error' } as const;
export const OPENAPI_UNAVAILABLE = { $ref: '#/components/responses/Unavailable' } as const;

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
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
      },
      responses: {
        Error: { description: 'Invalid request, or not allowed.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        Unavailable: {
          description: 'A backend is unreachable; retry after the Retry-After header.',
          headers: { 'Retry-After': { schema: { type: 'integer' } } },
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    },
    paths: Object.assign({}, ...parts.map((p) => p.paths)) as Record<string, Record<string, unknown>>,
  };
}
