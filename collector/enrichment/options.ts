import { PlatformError } from '../../shared/core/errors.ts';
import { wholeNumber } from '../../shared/runtime/environment.ts';
import { fastGeoipLookup, type GeoLookup } from './country.ts';

export interface VisitEnrichmentOptions {
  /** Country lookup from the client IP (fast-geoip, IPv4 only). @default true */
  geoip?: boolean;
  /**
   * Entries in the user-agent cache (parsed browser/OS/device and the bot verdict per user-agent
   * string). 0: no cache. About 0.5–1 KiB per entry at most.
   * @default 10000
   */
  userAgentCacheSize?: number;
  /** Network ranges in the country cache (no client IP is kept). 0: no cache. About 30 bytes per range. @default 10000 */
  countryCacheSize?: number;
  /** The IPv4 geolocation database. @default fast-geoip's lookup */
  geoLookup?: GeoLookup;
}

export type ResolvedVisitEnrichmentOptions = Required<VisitEnrichmentOptions>;

export const VISIT_ENRICHMENT_DEFAULTS = {
  geoip: true,
  userAgentCacheSize: 10_000,
  countryCacheSize: 10_000,
  geoLookup: fastGeoipLookup,
} as const satisfies ResolvedVisitEnrichmentOptions;

export const VISIT_ENRICHMENT_LIMITS = {
  userAgentCacheSize: wholeNumber(0, 1_000_000),
  countryCacheSize: wholeNumber(0, 1_000_000),
} as const;

/** The options with their defaults; a value out of range fails here, naming the option. */
export function resolveVisitEnrichmentOptions(options: VisitEnrichmentOptions = {}): ResolvedVisitEnrichmentOptions {
  const d = VISIT_ENRICHMENT_DEFAULTS;
  const r: ResolvedVisitEnrichmentOptions = {
    geoip: options.geoip ?? d.geoip,
    userAgentCacheSize: options.userAgentCacheSize ?? d.userAgentCacheSize,
    countryCacheSize: options.countryCacheSize ?? d.countryCacheSize,
    geoLookup: options.geoLookup ?? d.geoLookup,
  };
  if (typeof r.geoip !== 'boolean') throw new PlatformError('PV_CONFIG_INVALID', `visit enrichment option 'geoip' must be true or false, got ${String(r.geoip)}`);
  if (typeof r.geoLookup !== 'function') throw new PlatformError('PV_CONFIG_INVALID', `visit enrichment option 'geoLookup' must be a function`);
  for (const [option, limit] of Object.entries(VISIT_ENRICHMENT_LIMITS)) {
    const value = r[option as keyof typeof VISIT_ENRICHMENT_LIMITS];
    const issue = limit.schema.safeParse(value).error?.issues[0];
    if (issue !== undefined) throw new PlatformError('PV_CONFIG_INVALID', `visit enrichment option '${option}' ${issue.message}, got ${String(value)}`);
  }
  return r;
}
