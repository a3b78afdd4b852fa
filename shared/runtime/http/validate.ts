/**
 * Input validation at the HTTP edge: a zod schema, declared once per route, gives the parsed
 * value, its TypeScript type and its OpenAPI entry. A failure is a 400 whose message lists
 * every problem and whose details name each field: `{"error":{code,message,details:[{field,message}]}}`.
 */
import { z } from 'zod';
import { ApiError, type ApiErrorCode } from './api-error.ts';

export interface FieldProblem {
  field: string;
  message: string;
}

/** The problems of a failed parse, each with the field it is about ('' for the whole input). */
export function fieldProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.flatMap((issue) =>
    // An unknown parameter is named as the field it is about.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: [...issue.path.map(String), key].join('.'), message: issue.message }))
      : [{ field: issue.path.map(String).join('.'), message: issue.message }],
  );
}

/** Parses `input` with `schema`, or throws a 400 ApiError with `code`, naming every bad field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, code: ApiErrorCode = 'PV_QUERY_INVALID'): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = fieldProblems(result.error);
  throw new ApiError(400, code, [...new Set(problems.map((p) => p.message))].join('; '), problems);
}

/**
 * A route's query string: a parameter the route does not take is a 400 that names it (a
 * silently ignored parameter would give a 200 with wrong numbers). Parse it with {@link asQuery}.
 */
export function querySchema<S extends z.ZodRawShape>(shape: S) {
  const names = Object.keys(shape).join(', ') || 'no parameters';
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown parameter ${iss.keys.map((k) => `'${k}'`).join(', ')}: this endpoint takes ${names}` : undefined),
  });
}

/** The query of a route that takes no parameters. */
export const NO_QUERY = querySchema({});

const withoutEmpty = (query: unknown): unknown =>
  typeof query === 'object' && query !== null ? Object.fromEntries(Object.entries(query).filter(([, v]) => v !== '')) : query;

const queries = new WeakMap<z.ZodType, z.ZodType>();

/**
 * A route schema applied to a query string object: `?x=` counts as absent. Made once per
 * schema: routes call it per request, and a schema is compiled on its first parse.
 */
export function asQuery<S extends z.ZodType>(schema: S): z.ZodPipe<z.ZodTransform<unknown, unknown>, S> {
  let query = queries.get(schema);
  if (query === undefined) {
    query = z.preprocess(withoutEmpty, schema);
    queries.set(schema, query);
  }
  return query as z.ZodPipe<z.ZodTransform<unknown, unknown>, S>;
}
