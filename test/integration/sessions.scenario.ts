/**
 * Sessions through both layers and the Stats API, on any pair of backends, against the
 * ground-truth sessionizer of test/support (written independently of shared/core/sessions.ts):
 * visits, bounce rate, visit duration and views per visit in aggregate, timeseries and
 * breakdowns by entry and exit page. A seeded workload puts gaps just under, at and just over 30
 * minutes, sessions across the batch boundary, and redeliveries. Each visitor's events are in the
 * log in time order (visitors interleaved), so the speed layer's sessions are exact too: before
 * the boundary the batch layer's numbers (exact, sessions counted whole), after it the speed
 * layer's (the same numbers, labelled provisional).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { mulberry32 } from '../../shared/tools/traffic-generator.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import type { TestBackends } from '../support/backends.ts';
import { truthSessions, truthTotals, type TruthEvent, type TruthSession, type TruthTotals } from '../support/ground-truth-sessions.ts';
import { suiteName } from '../support/infra.ts';
import { servePlatform, type ServedPlatform } from '../support/platform-server.ts';
import { speedCountedThrough, until } from '../support/wait.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const GAPS = [2 * MIN, 30 * MIN - 1, 30 * MIN, 30 * MIN + 1, 50 * MIN, 7 * MIN, 12 * MIN];
const PAGES = ['/', '/pricing', '/docs', '/blog/a', '/blog/b'];

/** Plausible's numbers from summed totals, written out here. */
function plausible(t: TruthTotals): { visits: number; bounce_rate: number; visit_duration: number; views_per_visit: number } {
  return {
    visits: t.visits,
    bounce_rate: t.visits === 0 ? 0 : Math.round((100 * t.bounces) / t.visits),
    visit_duration: t.visits === 0 ? 0 : Math.round(t.durationMs / 1000 / t.visits),
    views_per_visit: t.visits === 0 ? 0 : Math.round((100 * t.pageviews) / t.visits) / 100,
  };
}

/** A seeded workload over [from, until): per visitor, events at the gaps above; the log in time order; some redeliveries. */
function workload(site: string, visitors: number, from: number, until: number): { records: object[]; events: TruthEvent[] } {
  const rnd = mulberry32(17);
  const events: (TruthEvent & { eventId: string })[] = [];
  for (let v = 0; v < visitors; v++) {
    let t = from + Math.floor(rnd() * 90 * MIN);
    while (t < until) {
      events.push({ eventId: randomUUID(), site, visitorId: `visitor-${v}`, pageId: PAGES[Math.floor(rnd() * PAGES.length)]!, timestamp: t });
      t += GAPS[Math.floor(rnd() * GAPS.length)]!;
    }
  }
  events.sort((a, b) => a.timestamp - b.timestamp);
  const records: object[] = [];
  for (const e of events) {
    const record = { eventId: e.eventId, site, pageId: e.pageId, visitorId: e.visitorId, timestamp: e.timestamp };
    records.push(record);
    if (rnd() < 0.04) records.push(record); // a redelivery, right after
  }
  return { records, events };
}

interface Row {
  visits: number;
  bounce_rate: number;
  visit_duration: number;
  views_per_visit: number;
  exact: boolean;
}

export function describeSessions(name: string, factory: () => Promise<TestBackends>, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`sessions through both layers: ${name}`, options.skip), () => {
    let platform: ServedPlatform;
    let log: EventLog;
    let store: ViewStore;
    let speed: SpeedLayer;
    let sessions: TruthSession[];
    const site = `sessions-${randomUUID().slice(0, 8)}.example`;
    const now = Date.now();
    const from = bucketStart(now, 'hour') - 5 * HOUR;
    const cutoff = from + 3 * HOUR;
    const to = bucketStart(now, 'hour') + HOUR;
    const metrics = 'visits,bounce_rate,visit_duration,views_per_visit';
    const get = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${platform.base}${path}`);
      const body = (await res.json()) as T;
      expect(res.status, JSON.stringify(body)).toBe(200);
      return body;
    };

    beforeAll(async () => {
      platform = await servePlatform(factory);
      ({ log, store } = platform);
      const w = workload(site, 60, from, now - MIN);
      sessions = truthSessions(w.events);
      await log.append(w.records.map((e) => ({ key: `${site}\u0001${(e as { visitorId: string }).visitorId}`, value: JSON.stringify(e) })));
      speed = new SpeedLayer(log, store, silentLogger, new PlatformMetrics(), { groupId: `speed-${randomUUID()}`, flushIntervalMs: 100, sketchIntervalMs: 0 });
      await speed.start();
      const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
      await until('the speed layer to count every record', () => speedCountedThrough(store, end), 60_000, 100);
      const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
      expect(run.status).toBe('success');
    }, 120_000);

    afterAll(async () => {
      await speed?.stop().catch(() => undefined);
      await platform?.close();
    });

    it('the workload has what the cases need: gaps at 30 minutes ± 1 ms, bounces, and sessions across the boundary', () => {
      expect(sessions.some((s) => s.start < cutoff && s.end >= cutoff)).toBe(true);
      expect(sessions.some((s) => s.pageviews === 1)).toBe(true);
      expect(sessions.filter((s) => s.start >= cutoff).length).toBeGreaterThan(10);
    });

    it('aggregate: exact before the boundary, and the same numbers (provisional) over a range past it', async () => {
      type Answer = { results: Record<string, { value: number; exact: boolean; openSessionsIncluded?: boolean }>; sessions: string };
      const before = await get<Answer>(`/stats/aggregate?site=${site}&metrics=${metrics}&from=${from}&to=${cutoff}`);
      const want = plausible(truthTotals(sessions, { from, to: cutoff }));
      for (const [metric, value] of Object.entries(want)) expect(before.results[metric], metric).toEqual({ value, exact: true });
      const whole = await get<Answer>(`/stats/aggregate?site=${site}&metrics=${metrics}&from=${from}&to=${to}`);
      const all = plausible(truthTotals(sessions, { from, to }));
      for (const [metric, value] of Object.entries(all)) expect(whole.results[metric], metric).toEqual({ value, exact: false, openSessionsIncluded: true });
      expect(whole.sessions).toMatch(/counted in the bucket of their start/);
    });

    it('timeseries by hour: each hour the sessions that start in it, exact before the boundary', async () => {
      const answer = await get<{ results: (Row & { date: string; pageviews: number })[] }>(`/stats/timeseries?site=${site}&metrics=pageviews,${metrics}&interval=hour&from=${from}&to=${to}`);
      expect(answer.results).toHaveLength((to - from) / HOUR);
      answer.results.forEach((p, i) => {
        const start = from + i * HOUR;
        expect(p).toMatchObject({ ...plausible(truthTotals(sessions, { from: start, to: start + HOUR })), exact: start + HOUR <= cutoff });
      });
    });

    it.each([
      ['visit:entry_page', 'entry_page', 'entryPage'],
      ['visit:exit_page', 'exit_page', 'exitPage'],
    ] as const)('breakdown by %s: every page as the sessions say, most visits first', async (property, key, field) => {
      const answer = await get<{ results: (Row & Record<string, string | number | boolean>)[]; total: number }>(
        `/stats/breakdown?site=${site}&property=${property}&metrics=${metrics}&from=${from}&to=${to}&limit=100`,
      );
      const pages = new Set(sessions.map((s) => s[field]));
      expect(answer.total).toBe(pages.size);
      for (const page of pages) {
        const row = answer.results.find((r) => r[key] === page);
        expect(row, page).toBeDefined();
        expect(row).toMatchObject(plausible(truthTotals(sessions, { from, to, [field]: page })));
      }
      const visits = answer.results.map((r) => r.visits);
      expect(visits).toEqual([...visits].sort((a, b) => b - a));
    });

    it('refuses what sessions do not answer yet, naming the parameter', async () => {
      const refused = [
        [`/stats/aggregate?site=${site}&metrics=visits&filters=visit:source==Google`, 'filters'],
        [`/stats/breakdown?site=${site}&property=visit:source&metrics=visits`, 'metrics'],
        [`/stats/breakdown?site=${site}&property=visit:entry_page&metrics=pageviews`, 'metrics'],
        [`/stats/breakdown?site=${site}&property=visit:entry_page&filters=visit:source==Google`, 'filters'],
      ] as const;
      for (const [path, parameter] of refused) {
        const res = await fetch(`${platform.base}${path}`);
        expect(res.status, path).toBe(400);
        expect(((await res.json()) as { error: string }).error, path).toMatch(new RegExp(`^parameter '${parameter}'`));
      }
    });
  });
}
