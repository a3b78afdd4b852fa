/** The serving layer's public interface: its routes, a serving-only app, the views it answers from, its part of the OpenAPI document, and the dashboard's files. */
export { READ_ROUTE_PREFIXES, createServingApp, servingRouter, type ServingAppDeps } from './app.ts';
export { publicRunError, runBody } from './batch-routes.ts';
export { compareAnswer, type CompareAnswer } from './compare-answer.ts';
export { compareQuery } from './query-schemas.ts';
export { ServingViews, type ServingViewsOptions } from './serving-views.ts';
export { SERVING_OPENAPI } from './openapi.ts';
export { DASHBOARD_OPENAPI, dashboardRouter, loadDashboardFiles, type DashboardFiles } from './dashboard-routes.ts';
