/** The serving layer's public interface: its routes, a serving-only app, the views it answers from, and its part of the OpenAPI document. */
export { READ_ROUTE_PREFIXES, createServingApp, servingRouter, type ServingAppDeps } from './app.ts';
export { ServingViews, type ServingViewsOptions } from './serving-views.ts';
export { SERVING_OPENAPI } from './openapi.ts';
