export { VisitEnrichment, type GeoipStatus, type VisitContext, type VisitEnrichmentStats } from './enrichment.ts';
export { VISIT_ENRICHMENT_DEFAULTS, resolveVisitEnrichmentOptions, type VisitEnrichmentOptions } from './options.ts';
export { isBotUserAgent } from './bots.ts';
export { fastGeoipLookup, type CountryLookupStats, type GeoLookup, type GeoRecord } from './country.ts';
export { KNOWN_SOURCES, type KnownSource } from './known-sources.ts';
