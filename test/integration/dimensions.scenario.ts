/**
 * Breakdowns and filters by every property through both layers, on any pair of backends,
 * against a ground truth computed here from the events themselves (not with the platform's
 * property code): exact before the boundary; after it, speed counters exact (nothing
 * overflows at this size), visitors within the HyperLogLog's error, and combinations of
 * properties within the bounds they state.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import type { BatchBoundary, ViewStore } from '../../shared/adapters/view-store/index.ts';
import {
  PROPERTIES,
  parseFilters,
  queryEventBreakdown,
  queryEventTotals,
  queryPropertyBreakdown,
  scopeOf,
  type PropertyDefinition,
  type PropertyFilter,
} from '../../shared/core/query/index.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { mulberry32 } from '../../shared/tools/traffic-generator.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import type { TestBackends } from '../support/backends.ts';
import { suiteName } from '../support/infra.ts';
import { servePlatform, type ServedPlatform } from '../support/platform-server.ts';
import { speedCountedThrough, until } from '../support/wait.ts';

const HOUR = 3_600_000;

/** One event as written, and each property's value as a reader must show it (written out here, independently). */
interface Truth {
  eventId: string;
  timestamp: number;
  visitorId: string;
  values: Record<string, string>;
}

const REFERRERS: [string | undefined, string][] = [
  [undefined, 'Direct / None'],
  ['https://www.google.com/search', 'google.com/search'],
  ['http://news.ycombinator.com/', 'news.ycombinator.com/'],
  ['https://github.com/acme/repo', 'github.com/acme/repo'],
];
const SOURCES = [undefined, 'Google', 'Hacker News', 'GitHub', 'Newsletter'];
const DEVICES = ['Desktop', 'Mobile', 'Tablet', undefined];
const BROWSERS: [string, string][] = [['Chrome', '120.0'], ['Firefox', '121.0'], ['Safari', '17.2']];
const OSES: [string, string][] = [['Windows', '10'], ['Mac', '14.2'], ['Android', '14'], ['iOS', '17.2']];
const COUNTRIES = ['US', 'DE', 'FR', 'JP', undefined];
const UTM = [undefined, 'spring', 'launch|week'];

/** A seeded workload: `n` events of `visitors` visitors over [from, to), with repeats of some event ids before `dupBefore`. */
function workload(site: string, n: number, visitors: number, from: number, to: number, dupBefore: number): { records: object[]; truth: Truth[] } {
  const rnd = mulberry32(16);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
  const records: object[] = [];
  const truth: Truth[] = [];
  for (let i = 0; i < n; i++) {
    const visitorId = `visitor-${Math.floor(rnd() * visitors)}`;
    const timestamp = from + Math.floor(rnd() * (to - from));
    const pageId = rnd() < 0.3 ? `/blog/post-${Math.floor(rnd() * 8)}` : pick(['/', '/pricing', '/docs', '/docs/api', '/about']);
    const [referrer, referrerShown] = pick(REFERRERS);
    const source = pick(SOURCES);
    const device = pick(DEVICES);
    const [browser, browserVersion] = pick(BROWSERS);
    const [os, osVersion] = pick(OSES);
    const country = pick(COUNTRIES);
    const campaign = pick(UTM);
    const medium = campaign === undefined ? undefined : 'email';
    const event = {
      schemaVersion: 2,
      eventId: randomUUID(),
      site,
      pageId,
      visitorId,
      timestamp,
      ...(referrer === undefined ? {} : { referrer }),
      ...(source === undefined ? {} : { source }),
      ...(medium === undefined ? {} : { utmMedium: medium, utmSource: 'mail', utmCampaign: campaign }),
      ...(device === undefined ? {} : { device }),
      browser,
      browserVersion,
      os,
      osVersion,
      ...(country === undefined ? {} : { country }),
    };
    records.push(event);
    if (timestamp < dupBefore && rnd() < 0.05) records.push(event); // a duplicate the batch layer removes
    const notSet = (v: string | undefined) => v ?? '(not set)';
    truth.push({
      eventId: event.eventId,
      timestamp,
      visitorId,
      values: {
        'event:page': pageId,
        'visit:source': source ?? 'Direct / None',
        'visit:referrer': referrerShown,
        'visit:utm_medium': notSet(medium),
        'visit:utm_source': notSet(medium === undefined ? undefined : 'mail'),
        'visit:utm_campaign': notSet(campaign),
        'visit:utm_content': '(not set)',
        'visit:utm_term': '(not set)',
        'visit:device': notSet(device),
        'visit:browser': browser,
        'visit:browser_version': browserVersion,
        'visit:os': os,
        'visit:os_version': osVersion,
        'visit:country': notSet(country),
      },
    });
  }
  return { records, truth };
}

/** Whether a value passes a filter, written out here: exact values, `*` as any run, negation. */
function passes(filter: { name: string; negated: boolean; values: string[] }, value: string): boolean {
  const hit = filter.values.some((v) => new RegExp(`^${v.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's').test(value));
  return hit !== filter.negated;
}

interface Counts {
  views: number;
  visitors: Set<string>;
}

function count(truth: readonly Truth[], keep: (t: Truth) => boolean, by: ((t: Truth) => string) | null): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const t of truth) {
    if (!keep(t)) continue;
    const key = by === null ? '' : by(t);
    let c = out.get(key);
    if (c === undefined) out.set(key, (c = { views: 0, visitors: new Set() }));
    c.views += 1;
    c.visitors.add(t.visitorId);
  }
  return out;
}

/** HyperLogLog at precision 14 on a few hundred visitors: within 3 standard errors, and at least 2. */
const nearVisitors = (estimate: number, truth: number, rse: number): boolean => Math.abs(estimate - truth) <= Math.max(2, 3 * rse * truth);

/** The filter cases: Plausible's syntax, and the same as data for the ground truth. */
const FILTERS: { text: string; filters: { name: string; negated: boolean; values: string[] }[] }[] = [
  { text: 'visit:source==Google', filters: [{ name: 'visit:source', negated: false, values: ['Google'] }] },
  { text: 'visit:source==Google|GitHub', filters: [{ name: 'visit:source', negated: false, values: ['Google', 'GitHub'] }] },
  { text: 'visit:country!=US', filters: [{ name: 'visit:country', negated: true, values: ['US'] }] },
  { text: 'event:page==/blog/*', filters: [{ name: 'event:page', negated: false, values: ['/blog/*'] }] },
  { text: 'event:page==/docs', filters: [{ name: 'event:page', negated: false, values: ['/docs'] }] },
  { text: 'visit:utm_campaign==launch\\|week', filters: [{ name: 'visit:utm_campaign', negated: false, values: ['launch|week'] }] },
  { text: 'visit:referrer==google.com/*', filters: [{ name: 'visit:referrer', negated: false, values: ['google.com/*'] }] },
  { text: 'visit:device==(not set)', filters: [{ name: 'visit:device', negated: false, values: ['(not set)'] }] },
  // Two properties: the events, not the views.
  {
    text: 'visit:source==Google;visit:device==Mobile|Tablet',
    filters: [
      { name: 'visit:source', negated: false, values: ['Google'] },
      { name: 'visit:device', negated: false, values: ['Mobile', 'Tablet'] },
    ],
  },
  {
    text: 'visit:browser!=Chrome;event:page==/docs*;visit:country==US|DE',
    filters: [
      { name: 'visit:browser', negated: true, values: ['Chrome'] },
      { name: 'event:page', negated: false, values: ['/docs*'] },
      { name: 'visit:country', negated: false, values: ['US', 'DE'] },
    ],
  },
];

function parsed(text: string): PropertyFilter[] {
  const p = parseFilters(text);
  if (!p.ok) throw new Error(p.message);
  return p.filters;
}

export function describeDimensions(name: string, factory: () => Promise<TestBackends>, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`breakdowns and filters by every property: ${name}`, options.skip), () => {
    let platform: ServedPlatform;
    let log: EventLog;
    let store: ViewStore;
    let speed: SpeedLayer;
    let truth: Truth[];
    let boundary: BatchBoundary;
    const site = `dims-${randomUUID().slice(0, 8)}.example`;
    const now = Date.now();
    const from = bucketStart(now, 'hour') - 4 * HOUR;
    const cutoff = from + 2 * HOUR;
    const to = bucketStart(now, 'hour') + HOUR;
    const before = { from, to: cutoff };
    const whole = { from, to };
    const inRange = (r: { from: number; to: number }) => (t: Truth) => t.timestamp >= r.from && t.timestamp < r.to;

    beforeAll(async () => {
      platform = await servePlatform(factory);
      ({ log, store } = platform);
      const w = workload(site, 1500, 250, from, now, cutoff);
      truth = w.truth;
      await log.append(w.records.map((e) => ({ key: `${site}\u0001${(e as { visitorId: string }).visitorId}`, value: JSON.stringify(e) })));
      speed = new SpeedLayer(log, store, silentLogger, new PlatformMetrics(), { groupId: `speed-${randomUUID()}`, flushIntervalMs: 100, sketchIntervalMs: 0 });
      await speed.start();
      const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
      await until('the speed layer to count every record', () => speedCountedThrough(store, end), 60_000, 100);
      const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
      expect(run.status).toBe('success');
      boundary = (await store.latestBoundary())!;
      expect(boundary.cutoffTime).toBe(cutoff);
    }, 120_000);

    afterAll(async () => {
      await speed?.stop().catch(() => undefined);
      await platform?.close();
    });

    it.each(PROPERTIES.map((p) => [p.name, p] as const))('breaks down by %s: exact before the boundary; counters exact and visitors within the error after it', async (_, property: PropertyDefinition) => {
      for (const [range, exact] of [[before, true], [whole, false]] as const) {
        const expected = count(truth, inRange(range), (t) => t.values[property.name]!);
        const { rows, total } = await queryPropertyBreakdown(store, { site, property, filters: [], ...range, limit: 1000, offset: 0, withVisitors: true }, boundary);
        expect(total).toBe(expected.size);
        expect(new Map(rows.map((r) => [r.pageId, r.pageviews]))).toEqual(new Map([...expected].map(([k, c]) => [k, c.views])));
        for (const r of rows) {
          const want = expected.get(r.pageId)!.visitors.size;
          expect(r.exact).toBe(exact);
          expect(r.visitors!.exact).toBe(exact);
          if (exact) expect(r.visitors!.value).toBe(want);
          else expect(nearVisitors(r.visitors!.value, want, r.visitors!.relativeStandardError), `${property.name}=${r.pageId}: ${r.visitors!.value} vs ${want}`).toBe(true);
        }
      }
    });

    it.each(FILTERS.map((f) => [f.text, f] as const))('filters %s: totals exact before the boundary, within bounds after it', async (_, c) => {
      const filters = parsed(c.text);
      const keep = (t: Truth) => c.filters.every((f) => passes(f, t.values[f.name]!));
      const severalProperties = new Set(c.filters.map((f) => f.name)).size > 1;
      for (const [range, exact] of [[before, true], [whole, false]] as const) {
        const want = count(truth, (t) => inRange(range)(t) && keep(t), null).get('') ?? { views: 0, visitors: new Set() };
        if (severalProperties) {
          const got = await queryEventTotals(store, { site, filters, ...range }, boundary);
          expect(got.pageviews.exact).toBe(exact);
          if (exact) expect([got.pageviews.value, got.visitors.value]).toEqual([want.views, want.visitors.size]);
          expect(got.pageviews.lower).toBeLessThanOrEqual(want.views);
          expect(got.pageviews.upper).toBeGreaterThanOrEqual(want.views);
          expect(got.visitors.lower).toBeLessThanOrEqual(want.visitors.size + 2);
          expect(got.visitors.upper).toBeGreaterThanOrEqual(want.visitors.size - 2);
        } else {
          const scope = scopeOf(store, site, filters, boundary);
          const views = await scope.pageViews({ ...range, interval: 'hour' });
          const visitors = await scope.visitors(range);
          expect(views.total.views).toBe(want.views);
          expect(views.total.exact).toBe(exact);
          if (exact) expect(visitors).toMatchObject({ value: want.visitors.size, exact: true });
          else expect(nearVisitors(visitors.value, want.visitors.size, visitors.relativeStandardError), `${visitors.value} vs ${want.visitors.size}`).toBe(true);
        }
      }
    });

    it.each([
      ['event:page', 'visit:source==Google'],
      ['visit:country', 'event:page==/blog/*'],
      ['visit:browser', 'visit:device==Mobile;visit:browser!=Safari'],
    ])('breaks down by %s filtered by %s: exact before the boundary, within bounds after it', async (name, text) => {
      const property = PROPERTIES.find((p) => p.name === name)!;
      const filters = parsed(text);
      const c = filters.map((f) => ({ name: f.property.name, negated: f.negated, values: f.values.map((v) => v.pieces.join('*')) }));
      const keep = (t: Truth) => c.every((f) => passes(f, t.values[f.name]!));
      for (const [range, exact] of [[before, true], [whole, false]] as const) {
        const expected = count(truth, (t) => inRange(range)(t) && keep(t), (t) => t.values[name]!);
        const { rows } = await queryEventBreakdown(store, { site, property, filters, ...range, limit: 1000, offset: 0 }, boundary);
        if (exact) {
          expect(new Map(rows.map((r) => [r.value, [r.pageviews.value, r.visitors.value]]))).toEqual(new Map([...expected].map(([k, v]) => [k, [v.views, v.visitors.size]])));
          expect(rows.every((r) => r.pageviews.exact && r.visitors.exact)).toBe(true);
          continue;
        }
        for (const [value, want] of expected) {
          const row = rows.find((r) => r.value === value);
          expect(row, `${value} is listed`).toBeDefined();
          expect(row!.pageviews.lower).toBeLessThanOrEqual(want.views);
          expect(row!.pageviews.upper).toBeGreaterThanOrEqual(want.views);
          expect(row!.visitors.upper).toBeGreaterThanOrEqual(want.visitors.size - 2);
        }
      }
    });

    it('the timeseries route with filters on two properties: hours and months from the events, exact before the boundary and bounded after it; no minutes', async () => {
      const text = 'visit:source==Google;visit:device==Mobile|Tablet';
      const keep = (t: Truth) => t.values['visit:source'] === 'Google' && ['Mobile', 'Tablet'].includes(t.values['visit:device']!);
      const url = (params: string) => `${platform.base}/stats/timeseries?site=${site}&metrics=pageviews,visitors&filters=${encodeURIComponent(text)}&${params}`;
      const hours = (await (await fetch(url(`interval=hour&from=${from}&to=${to}`))).json()) as {
        results: { date: string; pageviews: number; visitors: number; exact: boolean; bounds?: { pageviews: { lower: number; upper: number } } }[];
      };
      expect(hours.results).toHaveLength((to - from) / HOUR);
      hours.results.forEach((p, i) => {
        const start = from + i * HOUR;
        const want = count(truth, (t) => t.timestamp >= start && t.timestamp < start + HOUR && keep(t), null).get('') ?? { views: 0, visitors: new Set() };
        expect(p.exact).toBe(start + HOUR <= cutoff);
        if (p.exact) expect([p.pageviews, p.visitors]).toEqual([want.views, want.visitors.size]);
        else {
          expect(p.bounds!.pageviews.lower).toBeLessThanOrEqual(want.views);
          expect(p.bounds!.pageviews.upper).toBeGreaterThanOrEqual(want.views);
        }
      });
      const months = (await (await fetch(url('period=month&interval=month'))).json()) as { results: { date: string; pageviews: number; bounds?: { pageviews: { lower: number; upper: number } } }[] };
      const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
      const monthViews = count(truth, (t) => t.timestamp >= monthStart && keep(t), null).get('')?.views ?? 0;
      expect(months.results).toHaveLength(1);
      expect(months.results[0]!.bounds!.pageviews.lower).toBeLessThanOrEqual(monthViews);
      expect(months.results[0]!.bounds!.pageviews.upper).toBeGreaterThanOrEqual(monthViews);
      const minutes = await fetch(url(`interval=minute&from=${cutoff}&to=${cutoff + HOUR}`));
      expect(minutes.status).toBe(400);
      expect(((await minutes.json()) as { error: string }).error).toMatch(/^parameter 'interval': filters on several properties/);
    });
  });
}
