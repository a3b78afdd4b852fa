/** The serving layer's public interface: its routes, a serving-only app, and its part of the OpenAPI document. */
export { READ_ROUTE_PREFIXES, createServingApp, servingRouter, type ServingAppDeps } from './app.ts';
export { SERVING_OPENAPI } from './openapi.ts';
