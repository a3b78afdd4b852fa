/**
 * The visit fields of one event (source, UTM, device, browser, OS, country), derived once by
 * the collector so that both layers read the same values. Pure apart from its caches and the
 * process's country table (built once, in a worker thread); never throws on any input, and
 * every value it gives passes the event schema (validatePageView).
 */

import type { VisitFields } from '../../shared/core/page-view.ts';
import { isBotUserAgent } from './bots.ts';
import { CountryLookup, type CountryLookupStats } from './country.ts';
import { deviceFromWidth } from './device.ts';
import { resolveVisitEnrichmentOptions, type VisitEnrichmentOptions } from './options.ts';
import { parsePageUrl } from './page-url.ts';
import { visitSource } from './source.ts';
import { UserAgentCache, type UserAgentCacheStats } from './user-agent.ts';
import { addUtmFields } from './utm.ts';

/** What the collector knows about one event. Fields of any other type are ignored. */
export interface VisitContext {
  /** The page's absolute URL (Plausible's `u`), when known; a path with a query (`/p?utm_source=x`) also gives the UTM fields. */
  pageUrl?: string | undefined;
  /** The referrer URL (Plausible's `r` / document.referrer). */
  referrer?: string | undefined;
  userAgent?: string | undefined;
  /** window.innerWidth (Plausible's `w`). */
  screenWidth?: number | undefined;
  /** The client IP (already resolved by the caller); never stored by this module. */
  clientIp?: string | undefined;
}

/** Whether country lookup works: 'off' when `geoip: false`. */
export type GeoipStatus = 'ok' | 'off' | 'unavailable';

export interface VisitEnrichmentStats {
  userAgents: UserAgentCacheStats;
  /** Null when `geoip: false`. */
  countries: CountryLookupStats | null;
}

export class VisitEnrichment {
  private readonly userAgents: UserAgentCache;
  private readonly countries: CountryLookup | null;

  /** Throws a PV_CONFIG_INVALID error naming the option when an option is out of range. */
  constructor(options: VisitEnrichmentOptions = {}) {
    const o = resolveVisitEnrichmentOptions(options);
    this.userAgents = new UserAgentCache(o.userAgentCacheSize);
    this.countries = o.geoip ? new CountryLookup({ lookup: o.geoLookup, cacheSize: o.countryCacheSize, logger: o.logger }) : null;
  }

  /** The visit fields for one event; never rejects (bad input gives absent fields). */
  enrich(context: VisitContext): Promise<VisitFields> {
    const fields = this.enrichSync(context);
    const ip = context?.clientIp;
    if (this.countries === null || ip === undefined) return Promise.resolve(fields);
    return this.countries.country(ip).then((country) => {
      if (country !== undefined) fields.country = country;
      return fields;
    });
  }

  /** Every visit field but `country`, synchronously; never throws. Keys in VISIT_FIELDS order. */
  enrichSync(context: VisitContext): VisitFields {
    const fields: VisitFields = {};
    if (typeof context !== 'object' || context === null) return fields;
    try {
      const page = parsePageUrl(context.pageUrl);
      const source = visitSource(page, context.referrer);
      if (source !== undefined) fields.source = source;
      addUtmFields(page, fields);
    } catch {
      // Not expected (the parsers catch their own errors); the other fields still count.
    }
    try {
      const userAgent = typeof context.userAgent === 'string' ? context.userAgent : undefined;
      const agent = userAgent === undefined ? undefined : this.userAgents.agent(userAgent);
      const device = deviceFromWidth(context.screenWidth) ?? agent?.device;
      if (device !== undefined) fields.device = device;
      if (agent !== undefined) {
        if (agent.browser !== undefined) fields.browser = agent.browser;
        if (agent.browserVersion !== undefined) fields.browserVersion = agent.browserVersion;
        if (agent.os !== undefined) fields.os = agent.os;
        if (agent.osVersion !== undefined) fields.osVersion = agent.osVersion;
      }
    } catch {
      // As above: a user agent that breaks the parser gives no agent fields.
    }
    return fields;
  }

  /**
   * Whether the user agent is a bot, crawler or automated/headless browser (isbot). A missing or
   * blank user agent counts as a bot: browsers always send one (Plausible drops such requests).
   */
  isBot(userAgent: string | undefined): boolean {
    try {
      return typeof userAgent === 'string' ? this.userAgents.isBot(userAgent) : isBotUserAgent(userAgent);
    } catch {
      return false;
    }
  }

  /**
   * 'ok' when the country table answers for a well-known address, 'unavailable' when it could
   * not be built, 'off' when disabled; for start-up logs and health. Builds the table first if
   * need be (seconds, in a worker thread): a server awaits it at start so that its first events
   * do not wait for the build.
   */
  async geoipStatus(): Promise<GeoipStatus> {
    return this.countries === null ? 'off' : this.countries.status();
  }

  /** Cache and lookup counters (for metrics). */
  stats(): VisitEnrichmentStats {
    return { userAgents: this.userAgents.stats(), countries: this.countries?.stats() ?? null };
  }
}

