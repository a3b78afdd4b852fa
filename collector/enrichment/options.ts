import { PlatformError } from '../../shared/core/errors.ts';
import { wholeNumber } from '../../shared/runtime/environment.ts';
import type { Logger } from '../../shared/runtime/logger.ts';
import type { GeoLookup } from './country.ts';

export interface VisitEnrichmentOptions {
  /**
   * Country lookup from the client IP (IPv4 only), in an in-memory table built from fast-geoip's
   * data in a worker thread on first use (or on the first `geoipStatus()`). @default true
   */
  geoip?: boolean;
  /**
   * Entries in the user-agent cache (parsed browser/OS/device and the bot verdict per user-agent
   * string). 0: no cache. About 0.5–1 KiB per entry at most.
   * @default 10000
   */
  userAgentCacheSize?: number;
  /**
   * Network ranges cached for a `geoLookup` (no client IP is kept). 0: no cache. About 30 bytes
   * per range. The default country table needs no cache and ignores it.
   * @default 10000
   */
  countryCacheSize?: number;
  /** An IPv4 geolocation database asked per lookup instead of the country table (tests, comparisons). @default none: the table */
  geoLookup?: GeoLookup | undefined;
  /** Told once whether the country table was built (info) or not (error). @default none */
  logger?: Logger | undefined;
}

export type ResolvedVisitEnrichmentOptions = Required<Omit<VisitEnrichmentOptions, 'geoLookup' | 'logger'>> & Pick<VisitEnrichmentOptions, 'geoLookup' | 'logger'>;

export const VISIT_ENRICHMENT_DEFAULTS = {
  geoip: true,
  userAgentCacheSize: 10_000,
  countryCacheSize: 10_000,
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
    geoLookup: options.geoLookup,
    logger: options.logger,
  };
  if (typeof r.geoip !== 'boolean') throw new PlatformError('PV_CONFIG_INVALID', `visit enrichment option 'geoip' must be true or false, got ${String(r.geoip)}`);
  if (r.geoLookup !== undefined && typeof r.geoLookup !== 'function') throw new PlatformError('PV_CONFIG_INVALID', `visit enrichment option 'geoLookup' must be a function`);
  for (const [option, limit] of Object.entries(VISIT_ENRICHMENT_LIMITS)) {
    const value = r[option as keyof typeof VISIT_ENRICHMENT_LIMITS];
    const issue = limit.schema.safeParse(value).error?.issues[0];
    if (issue !== undefined) throw new PlatformError('PV_CONFIG_INVALID', `visit enrichment option '${option}' ${issue.message}, got ${String(value)}`);
  }
  return r;
}
