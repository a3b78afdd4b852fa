/**
 * The speed views, held in the serving process: the latest row of every speed key as of the
 * checkpoint versions it has applied, with the sums readers need kept up to date as rows arrive
 * (per page and hour, per site and minute, per site and hour). Reads answer what the view
 * store's speed reads answer (sql-speed-views.ts) for the same rows, without a query.
 *
 * Rows replace: a row of (log partition, site, page, minute) at a higher version replaces the
 * one before, so the mirror keeps each key's latest views to turn a replacement into a change
 * of the sums. Late-lane rows are kept under their own log partition, like any partition.
 *
 * Fed by ServingViews (serving-views.ts), which reads what each checkpoint added
 * (`speedRowsSince`) and applies it here.
 */
import { CountMinSketch, countMinOvercountBound, hash64 } from '../shared/core/sketches/index.ts';
import { INTERVAL_MS, bucketStart, isBucketEdge } from '../shared/core/time-buckets.ts';
import { addTotals, emptyTotals, type SessionTotals } from '../shared/core/sessions.ts';
import { DIMENSION_SEPARATOR } from '../shared/core/dimensions.ts';
import type {
  BucketSessions,
  BucketVisitorSketches,
  PageSessions,
  PageTotal,
  SpeedBucketViews,
  SpeedOverflowRow,
  SpeedRows,
  ViewQuery,
  VisitorsQuery,
} from '../shared/adapters/view-store/index.ts';

const MINUTE_MS = INTERVAL_MS.minute;

/**
 * A key of (bucket, log partition) as one number: the minute index times SLOTS plus the
 * partition's slot. Log partitions are in [-SLOT_OFFSET, SLOT_OFFSET): a topic's partitions
 * and their late lanes (−1 − partition).
 */
const SLOTS = 8192;
const SLOT_OFFSET = SLOTS / 2;

function slotKey(bucket: number, logPartition: number): number {
  return (bucket / MINUTE_MS) * SLOTS + logPartition + SLOT_OFFSET;
}

function bucketOfKey(key: number): number {
  return Math.floor(key / SLOTS) * MINUTE_MS;
}

/**
 * Estimated bytes per held entry, for the memory budget: a Map entry with a number key and
 * value (V8: ~3 slots in the hash table plus a heap number beyond 2^31), rounded up.
 */
export const MIRROR_ENTRY_BYTES = 48;

/** A session sums entry counts as this many entries: its Map slot and an object of four numbers. */
const SESSION_ENTRIES = 3;

/** One page's speed rows: the latest views per (minute, log partition), and their sum per hour. */
interface PageSpeed {
  rows: Map<number, number>;
  hours: Map<number, number>;
}

interface OverflowCell {
  bucket: number;
  total: number;
  width: number;
  depth: number;
  cms: Float64Array;
  topPages: string;
}

interface SiteSpeed {
  pages: Map<string, PageSpeed>;
  /** Sums over pages and overflow totals, per minute and per hour. */
  minutes: Map<number, number>;
  hours: Map<number, number>;
  /** Overflow rows by (minute, log partition). */
  overflow: Map<number, OverflowCell>;
  /** Visitor sketches by `${grain}\u0001${pageId}`, then (bucket, log partition). */
  visitors: Map<string, Map<number, string>>;
  /** Session sums by page ('' for the site; entry and exit pages under their own sites), then (minute, log partition). */
  sessions: Map<string, Map<number, SessionTotals>>;
}

function addTo(map: Map<number, number>, key: number, delta: number): void {
  map.set(key, (map.get(key) ?? 0) + delta);
}

function inRange(bucket: number, query: { from: number; to: number }): boolean {
  return bucket >= query.from && bucket < query.to;
}

/** Whether a range's both ends are hour edges, so it can be read from the hourly sums. */
function hourAligned(query: { from: number; to: number }): boolean {
  return isBucketEdge(query.from, 'hour') && isBucketEdge(query.to, 'hour');
}

export class SpeedViewMirror {
  private readonly sites = new Map<string, SiteSpeed>();
  private entries = 0;
  private sketchChars = 0;
  private cmsCells = 0;

  /** Estimated bytes held (MIRROR_ENTRY_BYTES per entry, 2 per sketch character, 8 per Count-Min cell). */
  get bytes(): number {
    return this.entries * MIRROR_ENTRY_BYTES + 2 * this.sketchChars + 8 * this.cmsCells;
  }

  private site(site: string): SiteSpeed {
    let s = this.sites.get(site);
    if (s === undefined) {
      s = { pages: new Map(), minutes: new Map(), hours: new Map(), overflow: new Map(), visitors: new Map(), sessions: new Map() };
      this.sites.set(site, s);
    }
    return s;
  }

  /** Applies rows read from the store: each replaces the row of its key (callers apply versions in order). */
  apply(rows: SpeedRows): void {
    for (const r of rows.pageMinutes) {
      const site = this.site(r.site);
      let page = site.pages.get(r.pageId);
      if (page === undefined) {
        page = { rows: new Map(), hours: new Map() };
        site.pages.set(r.pageId, page);
      }
      const key = slotKey(r.bucket, r.partition);
      const before = page.rows.get(key);
      if (before === undefined) this.entries++;
      page.rows.set(key, r.views);
      this.changeSums(site, page.hours, r.bucket, r.views - (before ?? 0));
    }
    for (const r of rows.overflow) this.applyOverflow(r);
    for (const r of rows.visitors) {
      const site = this.site(r.site);
      const name = `${r.grain}\u0001${r.pageId}`;
      let sketches = site.visitors.get(name);
      if (sketches === undefined) {
        sketches = new Map();
        site.visitors.set(name, sketches);
      }
      const key = slotKey(r.bucket, r.partition);
      const before = sketches.get(key);
      if (before === undefined) this.entries++;
      else this.sketchChars -= before.length;
      this.sketchChars += r.hll.length;
      sketches.set(key, r.hll);
    }
    for (const r of rows.sessions ?? []) {
      const site = this.site(r.site);
      let sums = site.sessions.get(r.pageId);
      if (sums === undefined) {
        sums = new Map();
        site.sessions.set(r.pageId, sums);
      }
      const key = slotKey(r.bucket, r.partition);
      if (!sums.has(key)) this.entries += SESSION_ENTRIES;
      sums.set(key, { visits: r.visits, bounces: r.bounces, durationMs: r.durationMs, pageviews: r.pageviews });
    }
  }

  private applyOverflow(r: SpeedOverflowRow): void {
    const site = this.site(r.site);
    const key = slotKey(r.bucket, r.partition);
    const before = site.overflow.get(key);
    if (before === undefined) this.entries++;
    else this.cmsCells -= before.cms.length;
    this.cmsCells += r.cms.length;
    site.overflow.set(key, { bucket: r.bucket, total: r.total, width: r.cmsWidth, depth: r.cmsDepth, cms: Float64Array.from(r.cms), topPages: r.topPages });
    this.changeSums(site, null, r.bucket, r.total - (before?.total ?? 0));
  }

  /** Adds a change of a minute's views to the sums (a delta of 0 still creates the entries: a row exists). */
  private changeSums(site: SiteSpeed, pageHours: Map<number, number> | null, bucket: number, delta: number): void {
    const hour = bucketStart(bucket, 'hour');
    const sizes = (pageHours?.size ?? 0) + site.minutes.size + site.hours.size;
    if (pageHours !== null) addTo(pageHours, hour, delta);
    addTo(site.minutes, bucket, delta);
    addTo(site.hours, hour, delta);
    this.entries += (pageHours?.size ?? 0) + site.minutes.size + site.hours.size - sizes;
  }

  /**
   * The sites with page views in a minute at or after `from`, unordered. Dimension views are
   * kept under sites named `<site>|<dimension>`; they are not sites of their own and are left out.
   */
  sitesWithViews(from: number): string[] {
    const out: string[] = [];
    for (const [name, site] of this.sites) {
      if (name.includes(DIMENSION_SEPARATOR)) continue;
      for (const [bucket, views] of site.minutes) {
        if (bucket >= from && views > 0) {
          out.push(name);
          break;
        }
      }
    }
    return out;
  }

  /** Drops every bucket before `dayStart` (the store's retention point). */
  dropBefore(dayStart: number): void {
    const firstKey = slotKey(dayStart, -SLOT_OFFSET);
    const dropKeys = <V>(map: Map<number, V>, first: number, onDrop?: (v: V) => void): void => {
      for (const [k, v] of map) {
        if (k >= first) continue;
        map.delete(k);
        this.entries--;
        onDrop?.(v);
      }
    };
    for (const site of this.sites.values()) {
      for (const page of site.pages.values()) {
        dropKeys(page.rows, firstKey);
        dropKeys(page.hours, dayStart);
      }
      dropKeys(site.minutes, dayStart);
      dropKeys(site.hours, dayStart);
      dropKeys(site.overflow, firstKey, (cell) => (this.cmsCells -= cell.cms.length));
      for (const sketches of site.visitors.values()) dropKeys(sketches, firstKey, (hll) => (this.sketchChars -= hll.length));
      for (const sums of site.sessions.values()) dropKeys(sums, firstKey, () => (this.entries -= SESSION_ENTRIES - 1));
    }
  }

  /** Session sums by minute of the session start in [from, to), over partitions: of the site, or of `pageId` (an entry or exit page under its site). */
  speedSessions(query: ViewQuery): BucketSessions[] {
    const sums = this.sites.get(query.site)?.sessions.get(query.pageId ?? '');
    if (sums === undefined) return [];
    const out = new Map<number, BucketSessions>();
    for (const [key, t] of sums) {
      const bucket = bucketOfKey(key);
      if (!inRange(bucket, query)) continue;
      const seen = out.get(bucket);
      if (seen === undefined) out.set(bucket, { bucket, ...t });
      else addTotals(seen, t);
    }
    return [...out.values()].filter((b) => b.visits !== 0).sort((a, b) => a.bucket - b.bucket);
  }

  /** Session sums per page (entry or exit pages, under their site) over [from, to). */
  speedSessionPages(query: ViewQuery): PageSessions[] {
    const site = this.sites.get(query.site);
    if (site === undefined) return [];
    const out: PageSessions[] = [];
    for (const [pageId, sums] of site.sessions) {
      if (pageId === '') continue;
      const total = { pageId, ...emptyTotals() };
      for (const [key, t] of sums) if (inRange(bucketOfKey(key), query)) addTotals(total, t);
      if (total.visits !== 0) out.push(total);
    }
    return out;
  }

  /**
   * Minute buckets of [from, to) with views, summed over partitions — or hour buckets when
   * `grain` is 'hour' and the range is whole hours (the same totals, rolled up). A page gets the
   * Count-Min estimate of its overflow events per minute, with its bound.
   */
  speedViews(query: ViewQuery, grain: 'minute' | 'hour' = 'minute'): SpeedBucketViews[] {
    const site = this.sites.get(query.site);
    if (site === undefined) return [];
    const byHour = grain === 'hour' && hourAligned(query);
    const out = new Map<number, SpeedBucketViews>();
    const add = (bucket: number, views: number, overcountBound: number): void => {
      const b = byHour ? bucketStart(bucket, 'hour') : bucket;
      const seen = out.get(b);
      if (seen === undefined) out.set(b, { bucket: b, views, overcountBound });
      else {
        seen.views += views;
        seen.overcountBound += overcountBound;
      }
    };
    if (query.pageId === undefined) {
      for (const [bucket, views] of byHour ? site.hours : site.minutes) if (inRange(bucket, query)) add(bucket, views, 0);
    } else {
      const page = site.pages.get(query.pageId);
      if (page !== undefined) {
        if (byHour) for (const [hour, views] of page.hours) { if (inRange(hour, query)) add(hour, views, 0); }
        else for (const [key, views] of page.rows) { const bucket = bucketOfKey(key); if (inRange(bucket, query)) add(bucket, views, 0); }
      }
      this.addOverflowEstimates(site, query, query.pageId, add);
    }
    return [...out.values()].filter((b) => b.views > 0 || b.overcountBound > 0).sort((a, b) => a.bucket - b.bucket);
  }

  /** Per minute and sketch shape: the partitions' cells summed, the page's estimate the least of its cells. */
  private addOverflowEstimates(site: SiteSpeed, query: ViewQuery, pageId: string, add: (bucket: number, views: number, bound: number) => void): void {
    if (site.overflow.size === 0) return;
    const groups = new Map<string, { bucket: number; width: number; depth: number; total: number; sums: number[] }>();
    const cellsByShape = new Map<string, number[]>();
    const pageHash = hash64(pageId);
    for (const cell of site.overflow.values()) {
      if (!inRange(cell.bucket, query)) continue;
      const shape = `${cell.width}x${cell.depth}`;
      let cells = cellsByShape.get(shape);
      if (cells === undefined) {
        cells = CountMinSketch.fromCells(cell.width, cell.depth, new Float64Array(cell.width * cell.depth)).cellIndexes(pageHash.hi, pageHash.lo);
        cellsByShape.set(shape, cells);
      }
      const name = `${shape}\u0001${cell.bucket}`;
      let group = groups.get(name);
      if (group === undefined) {
        group = { bucket: cell.bucket, width: cell.width, depth: cell.depth, total: 0, sums: cells.map(() => 0) };
        groups.set(name, group);
      }
      group.total += cell.total;
      for (let i = 0; i < cells.length; i++) group.sums[i]! += cell.cms[cells[i]!] ?? 0;
    }
    for (const g of groups.values()) add(g.bucket, Math.min(...g.sums), countMinOvercountBound(g.width, g.total));
  }

  /** Exact page views per page over [from, to): every page with a row in the range. */
  speedPageTotals(query: ViewQuery): PageTotal[] {
    const site = this.sites.get(query.site);
    if (site === undefined) return [];
    const byHour = hourAligned(query);
    const totals: PageTotal[] = [];
    for (const [pageId, page] of site.pages) {
      let views = 0;
      let any = false;
      if (byHour) {
        for (const [hour, v] of page.hours) if (inRange(hour, query)) { views += v; any = true; }
      } else {
        for (const [key, v] of page.rows) if (inRange(bucketOfKey(key), query)) { views += v; any = true; }
      }
      if (any) totals.push({ pageId, views });
    }
    return totals;
  }

  /** The top-pages summaries of the overflow minutes in [from, to), in (minute, partition) order. */
  speedTopPageSummaries(query: ViewQuery): string[] {
    const site = this.sites.get(query.site);
    if (site === undefined) return [];
    return [...site.overflow].filter(([, cell]) => inRange(cell.bucket, query)).sort(([a], [b]) => a - b).map(([, cell]) => cell.topPages);
  }

  /** The sketches of [from, to), in (bucket, partition) order. */
  private sketchEntries(query: VisitorsQuery): [number, string][] {
    const sketches = this.sites.get(query.site)?.visitors.get(`${query.grain}\u0001${query.pageId ?? ''}`);
    if (sketches === undefined) return [];
    return [...sketches].filter(([key]) => inRange(bucketOfKey(key), query)).sort(([a], [b]) => a - b);
  }

  speedVisitorSketches(query: VisitorsQuery): string[] {
    return this.sketchEntries(query).map(([, hll]) => hll);
  }

  speedVisitorSketchesByBucket(query: VisitorsQuery): BucketVisitorSketches[] {
    const out: BucketVisitorSketches[] = [];
    for (const [key, hll] of this.sketchEntries(query)) {
      const bucket = bucketOfKey(key);
      const last = out[out.length - 1];
      if (last !== undefined && last.bucket === bucket) last.sketches.push(hll);
      else out.push({ bucket, sketches: [hll] });
    }
    return out;
  }
}
