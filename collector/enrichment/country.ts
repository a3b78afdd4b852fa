/**
 * The `country` visit field: ISO 3166-1 alpha-2 from the client's IPv4 address, from the
 * country table (country-table.ts: fast-geoip's bundled GeoLite data, built in memory once per
 * process in a worker thread; no network, no file read per lookup).
 *
 * - fast-geoip knows IPv4 only: an IPv6 address has no country, except an IPv4-mapped one
 *   (`::ffff:203.0.113.9`, as a dual-stack socket reports IPv4 clients), which is looked up as
 *   its IPv4 address.
 * - Special-purpose addresses (private, loopback, link-local, CGNAT, documentation, multicast,
 *   reserved: {@link SPECIAL_PURPOSE_RANGES}) have no country. They must be filtered here:
 *   fast-geoip's data stores where each range starts, not where it ends, so it (and the table,
 *   which gives the same answers) answers for addresses in gaps with the range before them
 *   (10.0.0.1 gives US, 127.0.0.1 JP).
 * - Lookups made while the table is being built wait for it (the build takes seconds, and
 *   gives up after a minute). When it cannot be built, no event gets a country, `status()`
 *   says 'unavailable', the logger (if any) is told once, and nothing throws.
 * - A `GeoLookup` (an async database: a stand-in in tests, or fast-geoip's own `lookup`) can
 *   replace the table; its answers are then cached by network range, never by client address.
 */

import { isIPv6 } from 'node:net';
import fastGeoip from 'fast-geoip';
import { COUNTRY_PATTERN } from '../../shared/core/page-view.ts';
import type { Logger } from '../../shared/runtime/logger.ts';
import { sharedCountryTable, type CountryTable } from './country-table.ts';

/** What a lookup answers: the country and the range `[start, end)` (IPv4 as numbers) it holds for. */
export interface GeoRecord {
  country: string;
  range: readonly [number, number];
}

/** An IPv4 geolocation database asked per lookup instead of the country table: fast-geoip's `lookup`, or a stand-in (tests). */
export type GeoLookup = (ipv4: string) => Promise<GeoRecord | null>;

export const fastGeoipLookup: GeoLookup = (ipv4) => fastGeoip.lookup(ipv4);

const OCTET_RE = /^(?:0|[1-9]\d{0,2})$/;
const MAPPED_PREFIX_RE = /^::ffff:/i;

/**
 * An IPv4 address as a number: dotted quad, decimal, no leading zeros (0127.0.0.1 is refused,
 * as octal readings differ), or IPv4-mapped IPv6 (`::ffff:a.b.c.d`). Anything else: undefined.
 */
export function parseIpv4(text: string): number | undefined {
  const address = MAPPED_PREFIX_RE.test(text) ? text.slice(7) : text;
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET_RE.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** The dotted quad of an IPv4 number. */
export function formatIpv4(ip: number): string {
  return `${Math.floor(ip / 0x1000000) % 256}.${Math.floor(ip / 0x10000) % 256}.${Math.floor(ip / 0x100) % 256}.${ip % 256}`;
}

/** IANA's IPv4 special-purpose ranges (RFC 6890 and successors), plus multicast and the reserved 240/4. */
export const SPECIAL_PURPOSE_RANGES = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // private
  '100.64.0.0/10', // shared address space (carrier-grade NAT)
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // documentation (TEST-NET-1)
  '192.88.99.0/24', // 6to4 relay anycast (deprecated)
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // documentation (TEST-NET-2)
  '203.0.113.0/24', // documentation (TEST-NET-3)
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and 255.255.255.255 (broadcast)
] as const;

const SPECIAL_PURPOSE_BOUNDS: readonly (readonly [number, number])[] = SPECIAL_PURPOSE_RANGES.map((cidr) => {
  const [address = '', bits = ''] = cidr.split('/');
  const start = parseIpv4(address) as number;
  return [start, start + 2 ** (32 - Number(bits))] as const;
});

/** Whether an IPv4 address (as a number) is outside every special-purpose range. */
export function isPublicIpv4(ip: number): boolean {
  for (const [start, end] of SPECIAL_PURPOSE_BOUNDS) if (ip >= start && ip < end) return false;
  return true;
}

/**
 * Disjoint ranges `[start, end)` → country, sorted by start, found by binary search. Bounded:
 * when full it is emptied (the simplest bound; a miss costs one database lookup).
 */
export class RangeCache {
  private starts: number[] = [];
  private ends: number[] = [];
  private values: string[] = [];

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.starts.length;
  }

  /** The value of the range holding `ip`, or undefined. */
  find(ip: number): string | undefined {
    const i = this.lastStartAtOrBefore(ip);
    return i >= 0 && ip < (this.ends[i] as number) ? this.values[i] : undefined;
  }

  /** Adds `[start, end)`; a range overlapping one already held is not added. */
  add(start: number, end: number, value: string): void {
    if (this.capacity === 0 || !(start < end)) return;
    if (this.starts.length >= this.capacity) this.clear();
    const before = this.lastStartAtOrBefore(start);
    if (before >= 0 && (this.ends[before] as number) > start) return;
    const at = before + 1;
    if (at < this.starts.length && (this.starts[at] as number) < end) return;
    this.starts.splice(at, 0, start);
    this.ends.splice(at, 0, end);
    this.values.splice(at, 0, value);
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
    this.values = [];
  }

  /** The index of the last range starting at or before `ip`, or -1. */
  private lastStartAtOrBefore(ip: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((this.starts[mid] as number) <= ip) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }
}

export interface CountryLookupStats {
  /** Lookups answered from the range cache (an injected GeoLookup only). */
  cacheHits: number;
  /** Lookups in the country table (or the injected GeoLookup). */
  databaseLookups: number;
  /** Lookups without a usable country (a gap in the data, or no ISO code). */
  notFound: number;
  /** Lookups without a country because the table could not be built (or the GeoLookup failed). */
  failures: number;
  /** Addresses not looked up: IPv6 (not IPv4-mapped). */
  ipv6: number;
  /** Addresses not looked up: special-purpose IPv4, or not an IP address at all. */
  notPublic: number;
  /** Ranges held in the range cache (an injected GeoLookup only). */
  cachedRanges: number;
}

/** Whether country lookup works: 'ok', or 'unavailable' (no table, or no answer for a well-known address). */
export type CountryLookupStatus = 'ok' | 'unavailable';

/** The address the status check looks up (Google Public DNS; US in every GeoLite release). */
export const STATUS_PROBE_ADDRESS = '8.8.8.8';

export interface CountryLookupOptions {
  /** A database asked per lookup instead of the country table (tests, comparisons). @default none: the table */
  lookup?: GeoLookup | undefined;
  /** Ranges kept in the range cache of `lookup` (0: none); unused with the table. @default 10000 */
  cacheSize?: number | undefined;
  /** Where the table comes from. @default the process's shared table ({@link sharedCountryTable}) */
  table?: (() => Promise<CountryTable>) | undefined;
  /** Told once per table whether it was built (info) or not (error). */
  logger?: Logger | undefined;
}

/** Table promises whose outcome was logged: once per table, whatever the number of CountryLookups. */
const reported = new WeakSet<Promise<CountryTable>>();

export class CountryLookup {
  private readonly cache: RangeCache;
  private readonly lookup: GeoLookup | undefined;
  private readonly loadTable: () => Promise<CountryTable>;
  private readonly logger: Logger | undefined;
  /** The table once built, null once its build failed, undefined before. */
  private table: CountryTable | null | undefined;
  private tableReady: Promise<CountryTable | null> | undefined;
  private readonly counts: Omit<CountryLookupStats, 'cachedRanges'> = { cacheHits: 0, databaseLookups: 0, notFound: 0, failures: 0, ipv6: 0, notPublic: 0 };

  constructor(options: CountryLookupOptions = {}) {
    this.cache = new RangeCache(options.lookup === undefined ? 0 : (options.cacheSize ?? 10_000));
    this.lookup = options.lookup;
    this.loadTable = options.table ?? sharedCountryTable;
    this.logger = options.logger;
  }

  /** The country of a client address, or undefined (not a public IPv4 address, unknown, no table). Never rejects. */
  country(address: unknown): Promise<string | undefined> {
    if (typeof address !== 'string') {
      this.counts.notPublic++;
      return Promise.resolve(undefined);
    }
    const text = address.trim();
    const ip = parseIpv4(text);
    if (ip === undefined || !isPublicIpv4(ip)) {
      if (ip === undefined && isIPv6(text)) this.counts.ipv6++;
      else this.counts.notPublic++;
      return Promise.resolve(undefined);
    }
    if (this.lookup !== undefined) {
      const cached = this.cache.find(ip);
      if (cached !== undefined) {
        this.counts.cacheHits++;
        return Promise.resolve(cached);
      }
      return this.fromDatabase(this.lookup, ip);
    }
    if (this.table !== undefined) return Promise.resolve(this.fromTable(this.table, ip));
    return this.ready().then((table) => this.fromTable(table, ip));
  }

  /**
   * The table: its build starts on the first call (or the first lookup) and every later call
   * gets the same promise; null when it cannot be built. Never rejects. (Unused with a GeoLookup.)
   */
  ready(): Promise<CountryTable | null> {
    this.tableReady ??= this.buildTable();
    return this.tableReady;
  }

  /** 'ok' when the table (built first if need be) or the GeoLookup gives {@link STATUS_PROBE_ADDRESS} a country. */
  async status(): Promise<CountryLookupStatus> {
    let country: string | undefined;
    if (this.lookup === undefined) country = (await this.ready())?.country(parseIpv4(STATUS_PROBE_ADDRESS) as number);
    else {
      try {
        country = (await this.lookup(STATUS_PROBE_ADDRESS))?.country;
      } catch {
        country = undefined;
      }
    }
    return country !== undefined && COUNTRY_PATTERN.test(country) ? 'ok' : 'unavailable';
  }

  stats(): CountryLookupStats {
    return { ...this.counts, cachedRanges: this.cache.size };
  }

  private async buildTable(): Promise<CountryTable | null> {
    let loading: Promise<CountryTable>;
    try {
      loading = this.loadTable();
    } catch (err) {
      loading = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const logger = this.logger !== undefined && !reported.has(loading) ? this.logger : undefined;
    if (logger !== undefined) reported.add(loading);
    try {
      const table = await loading;
      this.table = table;
      logger?.info({ ranges: table.size, bytes: table.byteLength, buildMs: Math.round(table.build.buildMs) }, 'country table built');
      return table;
    } catch (err) {
      this.table = null;
      logger?.error({ err }, 'country table unavailable: events get no country');
      return null;
    }
  }

  private fromTable(table: CountryTable | null, ip: number): string | undefined {
    this.counts.databaseLookups++;
    if (table === null) {
      this.counts.failures++;
      return undefined;
    }
    const country = table.country(ip);
    if (country === undefined) this.counts.notFound++;
    return country;
  }

  private async fromDatabase(lookup: GeoLookup, ip: number): Promise<string | undefined> {
    this.counts.databaseLookups++;
    let record: GeoRecord | null;
    try {
      record = await lookup(formatIpv4(ip));
    } catch {
      this.counts.failures++;
      return undefined;
    }
    const country = record?.country;
    if (record === null || typeof country !== 'string' || !COUNTRY_PATTERN.test(country)) {
      this.counts.notFound++;
      return undefined;
    }
    const [start, end] = record.range;
    if (Number.isSafeInteger(start) && Number.isSafeInteger(end) && start <= ip && ip < end) this.cache.add(start, end, country);
    return country;
  }
}
