/** The collector's public interface: its router and its part of the OpenAPI document. */
export { MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST, collectorRouter, type ItemErrors } from './collector.ts';
export { COLLECTOR_OPENAPI } from './openapi.ts';
