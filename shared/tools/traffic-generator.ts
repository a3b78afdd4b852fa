/**
 * Deterministic, realistic page-view traffic: Zipf page popularity, returning visitors
 * (visitor popularity is Zipf too), seeded so the same options give the same events.
 * Used by the generator CLI, the embedded mode's built-in generator, tests and benchmarks.
 */
import { DEFAULT_SITE, type PageView } from '../core/page-view.ts';

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
}

export const TRAFFIC_DEFAULTS = {
  seed: 42,
  pages: 1000,
  visitors: 50_000,
  site: DEFAULT_SITE,
  pageSkew: 1.0,
  visitorSkew: 0.8,
} as const;

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

  constructor(options: TrafficOptions = {}) {
    this.random = mulberry32(options.seed ?? TRAFFIC_DEFAULTS.seed);
    this.pages = new ZipfSampler(options.pages ?? TRAFFIC_DEFAULTS.pages, options.pageSkew ?? TRAFFIC_DEFAULTS.pageSkew);
    this.visitors = new ZipfSampler(options.visitors ?? TRAFFIC_DEFAULTS.visitors, options.visitorSkew ?? TRAFFIC_DEFAULTS.visitorSkew);
    this.site = options.site ?? TRAFFIC_DEFAULTS.site;
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
    return {
      schemaVersion: 1,
      eventId: this.uuid(),
      site: this.site,
      pageId: page === 0 ? '/' : `/page/${page}`,
      visitorId: `visitor-${visitor}`,
      timestamp,
    };
  }
}
