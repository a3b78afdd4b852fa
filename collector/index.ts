/** The collector's public interface: its router, its parts, and its part of the OpenAPI document. */
export {
  COLLECTOR_DEFAULTS,
  MAX_BODY_BYTES,
  MAX_EVENTS_PER_REQUEST,
  MAX_PLAUSIBLE_BODY_BYTES,
  collectorRouter,
  type CollectorDeps,
  type CollectorOptions,
  type ItemErrors,
  type VisitEnricher,
} from './collector.ts';
export { VisitEnrichment, type VisitContext, type VisitEnrichmentOptions } from './enrichment/index.ts';
export { PLAUSIBLE_EVENT_INPUT } from './plausible-event.ts';
export { VisitorSalts, visitorIdFrom, utcDay } from './visitor-salts.ts';
export { COLLECTOR_OPENAPI } from './openapi.ts';
export { TRACKER_OPENAPI, TRACKER_SCRIPT_ROUTE, trackerRouter } from './tracker.ts';
