/**
 * Deterministic, realistic page-view traffic: Zipf page popularity, returning visitors
 * (visitor popularity is Zipf too), seeded so the same options give the same events.
 * Used by the generator CLI, the embedded mode's built-in generator, tests and benchmarks.
 */
import { DEFAULT_SITE, type PageView, type VisitFields } from '../core/page-view.ts';

export interface TrafficOptions {
  /** @default 42 */
  seed?: number;
  /** Distinct pages. @default 1000 */
  pages?: number;
  /** Distinct visitors. @default 50000 */
  visitors?: number;
  /** Site of every event. @default 'default' */
  site?: string;
  /** Zipf exponent of page popularity (0 = uniform). @default 1.0 */
  pageSkew?: number;
  /** Zipf exponent of visitor return frequency. @default 0.8 */
  visitorSkew?: number;
  /**
   * Schema v2 events with visit fields (source, UTM, device, browser, OS, country), fixed per
   * visitor, as the collector would derive them. Off: v1 events (the benchmarks' inputs).
   * @default false
   */
  visitFields?: boolean;
}

export const TRAFFIC_DEFAULTS = {
  seed: 42,
  pages: 1000,
  visitors: 50_000,
  site: DEFAULT_SITE,
  pageSkew: 1.0,
  visitorSkew: 0.8,
  visitFields: false,
} as const;

/** Weighted choices: [value, weight]. */
type Weighted<T> = readonly (readonly [T, number])[];

/** Visit fields a visitor keeps (per weights roughly like a small site's traffic). */
const SOURCES: Weighted<Pick<VisitFields, 'source' | 'utmSource' | 'utmMedium' | 'utmCampaign'>> = [
  [{}, 40],
  [{ source: 'Google' }, 30],
  [{ source: 'Bing' }, 5],
  [{ source: 'DuckDuckGo' }, 4],
  [{ source: 'Twitter' }, 5],
  [{ source: 'Hacker News' }, 4],
  [{ source: 'GitHub' }, 4],
  [{ source: 'newsletter', utmSource: 'newsletter', utmMedium: 'email', utmCampaign: 'winter' }, 8],
];
const AGENTS: Weighted<Pick<VisitFields, 'device' | 'browser' | 'browserVersion' | 'os' | 'osVersion'>> = [
  [{ device: 'Desktop', browser: 'Chrome', browserVersion: '120.0', os: 'Windows', osVersion: '10' }, 30],
  [{ device: 'Laptop', browser: 'Safari', browserVersion: '17.1', os: 'macOS', osVersion: '10.15' }, 15],
  [{ device: 'Laptop', browser: 'Firefox', browserVersion: '121.0', os: 'Linux' }, 5],
  [{ device: 'Mobile', browser: 'Safari', browserVersion: '17.1', os: 'iOS', osVersion: '17.1' }, 25],
  [{ device: 'Mobile', browser: 'Chrome', browserVersion: '120.0', os: 'Android', osVersion: '14' }, 20],
  [{ device: 'Tablet', browser: 'Safari', browserVersion: '17.1', os: 'iOS', osVersion: '17.1' }, 5],
];
const COUNTRIES: Weighted<string> = [['US', 35], ['DE', 15], ['GB', 10], ['FR', 8], ['IN', 8], ['BR', 6], ['JP', 6], ['CA', 6], ['NL', 6]];

function pickWeighted<T>(choices: Weighted<T>, u: number): T {
  const total = choices.reduce((sum, [, w]) => sum + w, 0);
  let at = u * total;
  for (const [value, weight] of choices) {
    if (at < weight) return value;
    at -= weight;
  }
  return (choices[choices.length - 1] as readonly [T, number])[0];
}

/** A visitor's own uniform number in [0, 1) for a draw `salt` (a hash: draws consume no PRNG state, so event sequences stay those of v1). */
function visitorDraw(visitor: number, salt: number): number {
  let h = Math.imul(visitor ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** The visit fields of a visitor, the same at every event. */
export function visitorVisitFields(visitor: number): VisitFields {
  const country = pickWeighted(COUNTRIES, visitorDraw(visitor, 3));
  return { ...pickWeighted(SOURCES, visitorDraw(visitor, 1)), ...pickWeighted(AGENTS, visitorDraw(visitor, 2)), country };
}

/** mulberry32: a small, fast, seedable PRNG (32-bit state). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Samples ranks 0..n-1 with probability proportional to 1/(rank+1)^s. */
export class ZipfSampler {
  private readonly cdf: Float64Array;

  constructor(n: number, s: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`ZipfSampler needs n >= 1, got ${n}`);
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += 1 / Math.pow(k + 1, s);
      this.cdf[k] = sum;
    }
    for (let k = 0; k < n; k++) this.cdf[k]! /= sum;
  }

  sample(u: number): number {
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export class TrafficGenerator {
  private readonly random: () => number;
  private readonly pages: ZipfSampler;
  private readonly visitors: ZipfSampler;
  private readonly site: string;
  private readonly visitFields: boolean;

  constructor(options: TrafficOptions = {}) {
    this.random = mulberry32(options.seed ?? TRAFFIC_DEFAULTS.seed);
    this.pages = new ZipfSampler(options.pages ?? TRAFFIC_DEFAULTS.pages, options.pageSkew ?? TRAFFIC_DEFAULTS.pageSkew);
    this.visitors = new ZipfSampler(options.visitors ?? TRAFFIC_DEFAULTS.visitors, options.visitorSkew ?? TRAFFIC_DEFAULTS.visitorSkew);
    this.site = options.site ?? TRAFFIC_DEFAULTS.site;
    this.visitFields = options.visitFields ?? TRAFFIC_DEFAULTS.visitFields;
  }

  /** A UUID v4 drawn from the seeded PRNG. */
  private uuid(): string {
    let hex = '';
    for (let i = 0; i < 16; i++) {
      let byte = Math.floor(this.random() * 256);
      if (i === 6) byte = (byte & 0x0f) | 0x40;
      if (i === 8) byte = (byte & 0x3f) | 0x80;
      hex += HEX[byte];
    }
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** The next event, at event time `timestamp`. */
  next(timestamp: number): PageView {
    const page = this.pages.sample(this.random());
    const visitor = this.visitors.sample(this.random());
    const event: PageView = {
      schemaVersion: 1,
      eventId: this.uuid(),
      site: this.site,
      pageId: page === 0 ? '/' : `/page/${page}`,
      visitorId: `visitor-${visitor}`,
      timestamp,
    };
    return this.visitFields ? { ...event, schemaVersion: 2, ...visitorVisitFields(visitor) } : event;
  }
}
