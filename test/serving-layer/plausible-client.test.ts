/**
 * A published client of Plausible's Stats API v1 (npm `plausible`, MIT), pointed unchanged at
 * the platform on 127.0.0.1: page views go in through the collector, the speed layer counts
 * them, a batch run makes the days before today exact, and every answer the client gets is
 * checked against counts made here from the events themselves.
 */
import { randomUUID } from 'node:crypto';
import Plausible from 'plausible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { embeddedBackends } from '../support/backends.ts';
import { servePlatform, type ServedPlatform } from '../support/platform-server.ts';
import { speedCountedThrough, until } from '../support/wait.ts';
import { truthSessions, truthTotals } from '../support/ground-truth-sessions.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const SITE = 'client.example';
const PAGES = ['/', '/pricing', '/blog/lambda', '/docs'];

interface Event {
  eventId: string;
  site: string;
  pageId: string;
  visitorId: string;
  timestamp: number;
  userAgent?: string;
  referrer?: string;
}

/**
 * The browsers and referrers the events come with, and what the collector's enrichment makes of
 * them (checked against collector/enrichment by hand: Chrome on Windows, Firefox on Linux, Safari
 * on an iPhone; Google and GitHub as sources).
 */
const AGENTS = [
  {
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    values: { 'visit:device': 'Desktop', 'visit:browser': 'Chrome', 'visit:browser_version': '120.0', 'visit:os': 'Windows', 'visit:os_version': '10' },
  },
  {
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
    values: { 'visit:device': 'Desktop', 'visit:browser': 'Firefox', 'visit:browser_version': '121.0', 'visit:os': 'Linux', 'visit:os_version': '(not set)' },
  },
  {
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
    values: { 'visit:device': 'Mobile', 'visit:browser': 'Safari', 'visit:browser_version': '17.2', 'visit:os': 'iOS', 'visit:os_version': '17.2' },
  },
] as const;
const REFERRERS = [
  { referrer: undefined, values: { 'visit:source': 'Direct / None', 'visit:referrer': 'Direct / None' } },
  { referrer: 'https://www.google.com/', values: { 'visit:source': 'Google', 'visit:referrer': 'google.com/' } },
  { referrer: 'https://github.com/acme', values: { 'visit:source': 'GitHub', 'visit:referrer': 'github.com/acme' } },
] as const;

/** A property's value of an event, as the API must show it (server-side events carry no UTM tags and no country). */
function valueOf(e: Event, property: string): string {
  if (property === 'event:page') return e.pageId;
  const agent = AGENTS.find((a) => a.userAgent === e.userAgent);
  const ref = REFERRERS.find((r) => r.referrer === e.referrer)!;
  const all: Record<string, string> = { ...ref.values, ...(agent?.values ?? {}) };
  return all[property] ?? '(not set)';
}

/** The ground truth: counts over the events themselves. */
const inRange = (events: readonly Event[], from: number, to: number) => events.filter((e) => e.timestamp >= from && e.timestamp < to);
const pageviews = (events: readonly Event[], from: number, to: number): number => inRange(events, from, to).length;
const visitors = (events: readonly Event[], from: number, to: number): number => new Set(inRange(events, from, to).map((e) => e.visitorId)).size;
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
/** Plausible's change: percent, rounded (the data below has no halves). */
const change = (before: number, now: number): number => (before === 0 ? (now > 0 ? 100 : 0) : Math.round(((now - before) / before) * 100));

/**
 * Visitors after the batch boundary are HyperLogLog estimates: with these few visitors per
 * bucket they are exact or off by one (a register collision).
 */
const approximately = (got: number, want: number): void => expect(Math.abs(got - want), `${got} vs ${want}`).toBeLessThanOrEqual(1);

describe('a published Plausible Stats API v1 client (npm plausible) against the platform', () => {
  let platform: ServedPlatform;
  let speed: SpeedLayer;
  let client: Plausible;
  let now: number;
  let today: number;
  const events: Event[] = [];

  beforeAll(async () => {
    platform = await servePlatform(() => embeddedBackends());
    now = Date.now();
    today = Math.floor(now / DAY) * DAY;
    // 45 days of page views: a few a day, from visitors that come back on other days.
    for (let d = 45; d >= 1; d--) {
      for (let k = 0; k <= (d * 7) % 5; k++) {
        const visitor = (d * 3 + k) % 29;
        const referrer = REFERRERS[(d + visitor) % 3]!.referrer as string | undefined;
        events.push({
          eventId: randomUUID(),
          site: SITE,
          pageId: PAGES[(d + k) % PAGES.length]!,
          visitorId: `v${visitor}`,
          timestamp: today - d * DAY + 9 * 3_600_000 + k * 7 * MIN,
          userAgent: AGENTS[visitor % 3]!.userAgent,
          ...(referrer === undefined ? {} : { referrer }),
        });
      }
    }
    // Today, and in the last minute (the realtime visitors: r0..r2 and a returning v1).
    for (let k = 0; k < 6; k++) {
      events.push({
        eventId: randomUUID(),
        site: SITE,
        pageId: PAGES[k % 2]!,
        visitorId: `t${k % 4}`,
        timestamp: Math.max(today, now - 40 * MIN) + k * MIN,
        userAgent: AGENTS[k % 3]!.userAgent,
        ...(k % 2 === 0 ? { referrer: 'https://github.com/acme' } : {}),
      });
    }
    for (const visitorId of ['r0', 'r1', 'r2', 'v1', 'r0']) events.push({ eventId: randomUUID(), site: SITE, pageId: '/pricing', visitorId, timestamp: now - MIN });
    // Another site's views count for it only.
    events.push({ eventId: randomUUID(), site: 'other.example', pageId: '/', visitorId: 'v1', timestamp: now - MIN });

    const posted = await fetch(`${platform.base}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    expect(posted.status).toBe(202);
    events.splice(events.length - 1, 1); // the other site's
    speed = new SpeedLayer(platform.log, platform.store, silentLogger, new PlatformMetrics(), { groupId: `speed-${randomUUID()}`, flushIntervalMs: 100, sketchIntervalMs: 0 });
    await speed.start();
    const end = [...(await platform.log.endOffsets()).values()].reduce((a, b) => a + b, 0);
    await until('the speed layer to count every event', () => speedCountedThrough(platform.store, end), 60_000, 100);
    const { run } = await runBatch(platform.log, platform.store, silentLogger, { cutoffTime: today });
    expect(run.status).toBe('success');
    // The client, unchanged: only its base URL points here.
    client = new Plausible('any-token', SITE, platform.base.replace(/\/api\/v1$/, ''));
  });

  afterAll(async () => {
    await speed?.stop().catch(() => undefined);
    await platform?.close();
  });

  it('realtime visitors: the distinct visitors of the last five minutes', async () => {
    const from = Math.floor((Date.now() - 5 * MIN) / MIN) * MIN;
    expect(await client.getRealtime()).toBe(visitors(events, from, Date.now() + 1));
    // r0..r2 and v1 (and, in the first minutes of a UTC day, today's first visitors too).
    expect(visitors(events, from, Date.now() + 1)).toBeGreaterThanOrEqual(4);
  });

  it('aggregate over 7d and 30d: pageviews and visitors', async () => {
    for (const [period, days] of [['7d', 7], ['30d', 30]] as const) {
      const from = today - (days - 1) * DAY;
      const views = await client.getAggregate(period, 'pageviews');
      expect(views.value).toBe(pageviews(events, from, today + DAY));
      expect(views.value).toBeGreaterThan(0);
      approximately((await client.getAggregate(period, 'visitors')).value, visitors(events, from, today + DAY));
    }
  });

  it('aggregate with compare=previous_period: the value and its change against the 7 days before', async () => {
    const from = today - 6 * DAY;
    const nowViews = pageviews(events, from, today + DAY);
    const beforeViews = pageviews(events, from - 7 * DAY, from);
    const answer = await client.getAggregate('7d', 'pageviews', true);
    expect(answer).toMatchObject({ value: nowViews, change: change(beforeViews, nowViews) });
    expect(beforeViews).toBeGreaterThan(0);
  });

  it('timeseries over 7d and 30d by date: one point per day, pageviews and visitors', async () => {
    for (const [period, days] of [['7d', 7], ['30d', 30]] as const) {
      const points = (await client.getTimeseries(period, 'pageviews,visitors' as 'visitors', null, 'date')) as unknown as { date: string; pageviews: number; visitors: number }[];
      const starts = Array.from({ length: days }, (_, i) => today - (days - 1 - i) * DAY);
      expect(points.map((p) => p.date)).toEqual(starts.map(day));
      expect(points.map((p) => p.pageviews)).toEqual(starts.map((s) => pageviews(events, s, s + DAY)));
      points.forEach((p, i) => approximately(p.visitors, visitors(events, starts[i]!, starts[i]! + DAY)));
      // Days before the batch boundary are exact: their visitors too.
      expect(points.slice(0, -1).map((p) => p.visitors)).toEqual(starts.slice(0, -1).map((s) => visitors(events, s, s + DAY)));
    }
  });

  it('timeseries over 30d by month: one point per calendar month (its first day), visitors a union over the month', async () => {
    const from = today - 29 * DAY;
    const first = new Date(from);
    const months = [Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1)];
    const thisMonth = Date.UTC(new Date(today).getUTCFullYear(), new Date(today).getUTCMonth(), 1);
    if (thisMonth !== months[0]) months.push(thisMonth);
    const points = (await client.getTimeseries('30d', 'visitors,pageviews' as 'visitors', null, 'month')) as unknown as { date: string; pageviews: number; visitors: number }[];
    expect(points.map((p) => p.date)).toEqual(months.map(day));
    // Each month within the period: [max(month, from), min(next month, tomorrow)).
    const parts = months.map((m, i) => [Math.max(m, from), Math.min(months[i + 1] ?? today + DAY, today + DAY)] as const);
    expect(points.map((p) => p.pageviews)).toEqual(parts.map(([a, b]) => pageviews(events, a, b)));
    points.forEach((p, i) => approximately(p.visitors, visitors(events, ...parts[i]!)));
    // A union, not a sum of days: visitors come back on other days.
    const sumOfDays = (a: number, b: number): number => Array.from({ length: (b - a) / DAY }, (_, d) => visitors(events, a + d * DAY, a + (d + 1) * DAY)).reduce((x, y) => x + y, 0);
    expect(parts.some(([a, b]) => sumOfDays(a, b) > visitors(events, a, b) + 1)).toBe(true);
  });

  it('timeseries over 6mo: months by default, as Plausible', async () => {
    const points = (await client.getTimeseries('6mo', 'pageviews')) as unknown as { date: string; pageviews: number }[];
    const t = new Date(today);
    const months = Array.from({ length: 7 }, (_, i) => Date.UTC(t.getUTCFullYear(), t.getUTCMonth() - 5 + i, 1));
    expect(points.map((p) => p.date)).toEqual(months.slice(0, 6).map(day));
    expect(points.map((p) => p.pageviews)).toEqual(months.slice(0, 6).map((m, i) => pageviews(events, m, months[i + 1]!)));
  });

  it('breakdown by event:page: pages by page views, the page under its Plausible key', async () => {
    const from = today - 29 * DAY;
    const rows = (await client.getBreakdown('30d', 'pageviews', 'event:page', null, 10)) as unknown as { page: string; pageviews: number }[];
    const expected = PAGES.map((page) => ({ page, pageviews: inRange(events, from, today + DAY).filter((e) => e.pageId === page).length }))
      .filter((r) => r.pageviews > 0)
      .sort((a, b) => b.pageviews - a.pageviews || a.page.localeCompare(b.page));
    expect(rows.map((r) => ({ page: r.page, pageviews: r.pageviews }))).toEqual(expected);
    // Paged as Plausible: page 2 of 2 rows.
    const second = (await client.getBreakdown('30d', 'pageviews', 'event:page', null, 2, 2)) as unknown as { page: string }[];
    expect(second.map((r) => r.page)).toEqual(expected.slice(2, 4).map((r) => r.page));
  });

  it("errors reach the client as Plausible's error string", async () => {
    await expect(client.getAggregate('7d', 'visits', false, 'visit:os==iOS')).rejects.toThrow(/^parameter 'filters': the session metrics \(visits\) cannot be filtered yet/);
  });

  /** Counts of the events of the last `days` days (today included) per value of `property`, among those `keep` selects. */
  const truthBy = (days: number, property: string, keep: (e: Event) => boolean = () => true): Map<string, { pageviews: number; visitors: Set<string> }> => {
    const out = new Map<string, { pageviews: number; visitors: Set<string> }>();
    for (const e of inRange(events, today - (days - 1) * DAY, today + DAY)) {
      if (!keep(e)) continue;
      const v = valueOf(e, property);
      const c = out.get(v) ?? { pageviews: 0, visitors: new Set<string>() };
      c.pageviews += 1;
      c.visitors.add(e.visitorId);
      out.set(v, c);
    }
    return out;
  };

  describe('sessions: visits, bounce_rate, visit_duration and views_per_visit', () => {
    /** Plausible's numbers of the sessions that start in [from, to), from the ground-truth sessionizer. */
    const want = (from: number, to: number, where: { entryPage?: string; exitPage?: string } = {}) => {
      const t = truthTotals(truthSessions(events), { site: SITE, from, to, ...where });
      return {
        visits: t.visits,
        bounce_rate: t.visits === 0 ? 0 : Math.round((100 * t.bounces) / t.visits),
        visit_duration: t.visits === 0 ? 0 : Math.round(t.durationMs / 1000 / t.visits),
        views_per_visit: t.visits === 0 ? 0 : Math.round((100 * t.pageviews) / t.visits) / 100,
      };
    };

    // The client's getAggregate returns results.visitors, pageviews, bounce_rate or visit_duration
    // (its code): visits and views_per_visit reach it through the timeseries and the breakdown;
    // the aggregate's are checked on the same answer shape, fetched as the client does.
    it('aggregate over 7d and 30d: bounce_rate and visit_duration through the client, every session metric in the answer', async () => {
      for (const [period, days] of [['7d', 7], ['30d', 30]] as const) {
        const expected = want(today - (days - 1) * DAY, today + DAY);
        expect(expected.visits).toBeGreaterThan(0);
        for (const metric of ['bounce_rate', 'visit_duration'] as const) {
          expect((await client.getAggregate(period, metric)).value, `${period} ${metric}`).toBe(expected[metric]);
        }
        const res = await fetch(`${platform.base}/stats/aggregate?site_id=${SITE}&period=${period}&metrics=visits,bounce_rate,visit_duration,views_per_visit`);
        const { results } = (await res.json()) as { results: Record<string, { value: number }> };
        expect(Object.fromEntries(Object.entries(results).map(([m, v]) => [m, v.value]))).toEqual(expected);
      }
    });

    it('aggregate with compare=previous_period: the bounce rate changes in points', async () => {
      const now = want(today - 6 * DAY, today + DAY);
      const before = want(today - 13 * DAY, today - 6 * DAY);
      expect(await client.getAggregate('7d', 'bounce_rate', true)).toMatchObject({ value: now.bounce_rate, change: now.bounce_rate - before.bounce_rate });
      expect(await client.getAggregate('7d', 'visit_duration', true)).toMatchObject({ value: now.visit_duration, change: change(before.visit_duration, now.visit_duration) });
    });

    it('timeseries over 7d by date: visits, bounce_rate and visit_duration per day, exact before today', async () => {
      const points = (await client.getTimeseries('7d', 'visits,bounce_rate,visit_duration' as 'visitors', null, 'date')) as unknown as {
        date: string;
        visits: number;
        bounce_rate: number;
        visit_duration: number;
        exact: boolean;
      }[];
      const starts = Array.from({ length: 7 }, (_, i) => today - (6 - i) * DAY);
      expect(points.map((p) => p.date)).toEqual(starts.map(day));
      points.forEach((p, i) => {
        const { visits, bounce_rate, visit_duration } = want(starts[i]!, starts[i]! + DAY);
        expect(p).toMatchObject({ visits, bounce_rate, visit_duration, exact: starts[i]! < today });
      });
    });

    it.each([
      ['visit:entry_page', 'entry_page', 'entryPage'],
      ['visit:exit_page', 'exit_page', 'exitPage'],
    ] as const)('breakdown by %s: visits, bounce_rate and visit_duration per page', async (property, key, field) => {
      const rows = (await client.getBreakdown('30d', 'visits,bounce_rate,visit_duration' as 'visitors', property as 'visit:source', null, 100)) as unknown as Record<string, string | number>[];
      expect(rows.length).toBeGreaterThan(0);
      for (const page of PAGES) {
        const expected = want(today - 29 * DAY, today + DAY, { [field]: page });
        const row = rows.find((r) => r[key] === page);
        if (expected.visits === 0) expect(row).toBeUndefined();
        else expect(row, page).toMatchObject({ visits: expected.visits, bounce_rate: expected.bounce_rate, visit_duration: expected.visit_duration });
      }
    });
  });

  describe('visit properties and filters', () => {
    const VISIT_PROPERTIES = ['visit:source', 'visit:referrer', 'visit:utm_medium', 'visit:utm_source', 'visit:utm_campaign', 'visit:utm_content', 'visit:utm_term', 'visit:device', 'visit:browser', 'visit:browser_version', 'visit:os', 'visit:os_version', 'visit:country'] as const;

    it.each(VISIT_PROPERTIES)('breakdown by %s: every value with its page views and visitors, under its Plausible key', async (property) => {
      const key = property.slice('visit:'.length);
      const rows = (await client.getBreakdown('30d', 'visitors,pageviews' as 'visitors', property as 'visit:source')) as unknown as Record<string, string | number>[];
      const want = truthBy(30, property);
      expect(new Map(rows.map((r) => [r[key], r['pageviews']]))).toEqual(new Map([...want].map(([v, c]) => [v, c.pageviews])));
      for (const r of rows) approximately(r['visitors'] as number, want.get(r[key] as string)!.visitors.size);
    });

    it('aggregate filtered on one property (from the views): pageviews as the events say', async () => {
      for (const filter of ['visit:browser==Firefox', 'visit:source==Google|GitHub', 'event:page==/blog/*', 'visit:os!=iOS']) {
        const [name, values] = filter.split(/==|!=/) as [string, string];
        const negated = filter.includes('!=');
        const pattern = new RegExp(`^(?:${values.split('|').map((v) => v.replace(/[.+?^${}()[\]\\]/g, '\\$&').replace(/\*/g, '.*')).join('|')})$`);
        const keep = (e: Event) => pattern.test(valueOf(e, name)) !== negated;
        const answer = await client.getAggregate('30d', 'pageviews', false, filter);
        expect(answer.value, filter).toBe([...truthBy(30, name, keep).values()].reduce((a, c) => a + c.pageviews, 0));
        approximately((await client.getAggregate('30d', 'visitors', false, filter)).value, new Set(inRange(events, today - 29 * DAY, today + DAY).filter(keep).map((e) => e.visitorId)).size);
      }
    });

    it('timeseries filtered by visit:os==iOS: per day as the events say, exact before today', async () => {
      const points = (await client.getTimeseries('7d', 'pageviews', 'visit:os==iOS', 'date')) as unknown as { date: string; pageviews: number; exact: boolean }[];
      const starts = Array.from({ length: 7 }, (_, i) => today - (6 - i) * DAY);
      expect(points.map((p) => p.pageviews)).toEqual(starts.map((s) => inRange(events, s, s + DAY).filter((e) => valueOf(e, 'visit:os') === 'iOS').length));
      expect(points.map((p) => p.exact)).toEqual(starts.map((s) => s < today));
    });

    it('filters on two properties and a breakdown by a third (from the events): exact before today, the truth within the bounds given for today', async () => {
      const keep = (e: Event) => valueOf(e, 'visit:source') === 'GitHub' && valueOf(e, 'visit:device') === 'Desktop';
      const answer = (await client.getAggregate('30d', 'pageviews', false, 'visit:source==GitHub;visit:device==Desktop')) as unknown as { value: number; exact: boolean; lower: number; upper: number };
      const want = inRange(events, today - 29 * DAY, today + DAY).filter(keep).length;
      expect(answer.exact).toBe(false);
      expect(answer.lower).toBeLessThanOrEqual(want);
      expect(answer.upper).toBeGreaterThanOrEqual(want);
      // Before today only: exact, from the events the batch layer counted.
      const past = (await client.getAggregate('custom' as '30d', 'pageviews', false, 'visit:source==GitHub;visit:device==Desktop', `${day(today - 29 * DAY)},${day(today - DAY)}`)) as unknown as { value: number; exact: boolean };
      expect(past).toMatchObject({ value: inRange(events, today - 29 * DAY, today).filter(keep).length, exact: true });
      const rows = (await client.getBreakdown('30d', 'pageviews', 'event:page', 'visit:source==GitHub')) as unknown as { page: string; pageviews: number; exact: boolean; bounds?: { pageviews: { lower: number; upper: number } } }[];
      const byPage = truthBy(30, 'event:page', (e) => valueOf(e, 'visit:source') === 'GitHub');
      for (const [page, c] of byPage) {
        const row = rows.find((r) => r.page === page);
        expect(row, page).toBeDefined();
        const [lower, upper] = row!.exact ? [row!.pageviews, row!.pageviews] : [row!.bounds!.pageviews.lower, row!.bounds!.pageviews.upper];
        expect(lower, page).toBeLessThanOrEqual(c.pageviews);
        expect(upper, page).toBeGreaterThanOrEqual(c.pageviews);
      }
    });
  });
});
