import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogMessage } from '../../../shared/adapters/event-log/index.ts';
import { decodePageView, pageViewKey, type PageView } from '../../../shared/core/page-view.ts';
import { HISTORY_BACKFILL_DEFAULTS, backfillHistory, historyEvents, hourWeight, planHistory } from '../../../shared/tools/history-backfill.ts';
import { TRAFFIC_DEFAULTS, TrafficGenerator } from '../../../shared/tools/traffic-generator.ts';

const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Wednesday 2026-01-07 12:00 UTC. */
const UNTIL = Date.UTC(2026, 0, 7, 12);

/** Collects what a back-fill appends, batch by batch. */
function memoryLog(): { append(messages: readonly LogMessage[]): Promise<void>; batches: LogMessage[][] } {
  const batches: LogMessage[][] = [];
  return { batches, append: async (messages) => void batches.push([...messages]) };
}

describe('planHistory', () => {
  it('gives exactly days × eventsPerDay events over the whole hours before `until`', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        (days, eventsPerDay, hoursSinceEpoch2026) => {
          const until = Date.UTC(2026, 0, 1) + hoursSinceEpoch2026 * HOUR;
          const plan = planHistory({ until, days, eventsPerDay });
          expect(plan.to).toBe(until);
          expect(plan.from).toBe(until - days * DAY);
          expect(plan.hours).toHaveLength(days * 24);
          expect(plan.total).toBe(days * eventsPerDay);
          expect(plan.hours.reduce((a, b) => a + b, 0)).toBe(days * eventsPerDay);
          for (const n of plan.hours) expect(Number.isInteger(n) && n >= 0).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('has a daily shape: quiet at night, busiest in the UTC afternoon, a little less at weekends', () => {
    // Four whole weeks ending at a midnight, so every hour of every weekday is there four times.
    const until = Date.UTC(2026, 1, 2); // Monday 00:00 UTC
    const plan = planHistory({ until, days: 28, eventsPerDay: 24_000 });
    const byHour = new Array<number>(24).fill(0);
    const byWeekday = new Array<number>(7).fill(0);
    plan.hours.forEach((n, i) => {
      const d = new Date(plan.from + i * HOUR);
      byHour[d.getUTCHours()]! += n;
      byWeekday[d.getUTCDay()]! += n;
    });
    const peak = byHour.indexOf(Math.max(...byHour));
    const trough = byHour.indexOf(Math.min(...byHour));
    expect(peak).toBeGreaterThanOrEqual(13);
    expect(peak).toBeLessThanOrEqual(17);
    expect(trough).toBeGreaterThanOrEqual(1);
    expect(trough).toBeLessThanOrEqual(5);
    expect(byHour[peak]! / byHour[trough]!).toBeGreaterThan(4);
    const weekday = byWeekday[3]!;
    for (const d of [1, 2, 3, 4, 5]) expect(byWeekday[d]).toBeCloseTo(weekday, -2);
    for (const d of [0, 6]) expect(byWeekday[d]! / weekday).toBeCloseTo(0.8, 2);
  });

  it.each([
    [{ days: -1 }, /'days' must be a whole number from 0 to 60/],
    [{ days: 61 }, /'days' must be a whole number from 0 to 60/],
    [{ days: 1.5 }, /'days'/],
    [{ eventsPerDay: 0 }, /'eventsPerDay' must be a whole number from 1 to 100000/],
    [{ eventsPerDay: 100_001 }, /'eventsPerDay'/],
    [{ until: UNTIL + 1 }, /until must be on a UTC hour/],
  ])('refuses %o', (bad, message) => {
    expect(() => planHistory({ until: UNTIL, ...bad })).toThrow(message);
  });

  it('weights hours from 0.15 × 0.8 (weekend night) to 1 (weekday afternoon)', () => {
    for (let i = 0; i < 7 * 24; i++) {
      const w = hourWeight(UNTIL + i * HOUR);
      expect(w).toBeGreaterThanOrEqual(0.15 * 0.8);
      expect(w).toBeLessThanOrEqual(1);
    }
  });
});

describe('historyEvents', () => {
  const options = { until: UNTIL, days: 3, eventsPerDay: 500, visitFields: true };

  it('is deterministic for a seed, and another seed gives other events', () => {
    const a = [...historyEvents(options)];
    expect([...historyEvents(options)]).toEqual(a);
    const b = [...historyEvents({ ...options, seed: 1 })];
    expect(b.map((e) => e.eventId)).not.toEqual(a.map((e) => e.eventId));
  });

  it('are valid v2 events in time order, every one before `until`, as many per hour as planned', () => {
    const events = [...historyEvents(options)];
    const plan = planHistory(options);
    expect(events).toHaveLength(plan.total);
    const perHour = new Array<number>(plan.hours.length).fill(0);
    let last = Number.NEGATIVE_INFINITY;
    for (const e of events) {
      const decoded = decodePageView(JSON.stringify(e));
      expect(decoded.ok).toBe(true);
      expect(e.schemaVersion).toBe(2);
      expect(e.timestamp).toBeGreaterThanOrEqual(last);
      expect(e.timestamp).toBeGreaterThanOrEqual(plan.from);
      expect(e.timestamp).toBeLessThan(UNTIL);
      last = e.timestamp;
      perHour[Math.floor((e.timestamp - plan.from) / HOUR)]! += 1;
    }
    expect(perHour).toEqual(plan.hours);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
  });

  it("are the live generator's traffic (same site, pages, visitors, visit fields), with a seed of their own", () => {
    const events = [...historyEvents(options)];
    const live = new TrafficGenerator({ visitFields: true });
    const liveEvents = Array.from({ length: 2000 }, () => live.next(UNTIL));
    expect(HISTORY_BACKFILL_DEFAULTS.seed).not.toBe(TRAFFIC_DEFAULTS.seed);
    const liveIds = new Set(liveEvents.map((e) => e.eventId));
    expect(events.filter((e) => liveIds.has(e.eventId))).toEqual([]);
    expect(new Set(events.map((e) => e.site))).toEqual(new Set([TRAFFIC_DEFAULTS.site]));
    // A visitor has the same visit fields in the history as live.
    const fields = (e: (typeof events)[number]) => JSON.stringify([e.source, e.device, e.browser, e.os, e.country, e.utmSource]);
    const liveByVisitor = new Map(liveEvents.map((e) => [e.visitorId, fields(e)]));
    const shared = events.filter((e) => liveByVisitor.has(e.visitorId));
    expect(shared.length).toBeGreaterThan(100);
    for (const e of shared) expect(fields(e)).toBe(liveByVisitor.get(e.visitorId));
    // Visitors return across days.
    const days = new Map<string, Set<number>>();
    for (const e of events) days.set(e.visitorId, (days.get(e.visitorId) ?? new Set()).add(Math.floor(e.timestamp / DAY)));
    expect([...days.values()].filter((d) => d.size > 1).length).toBeGreaterThan(10);
  });
});

describe('backfillHistory', () => {
  it('appends every event once, in batches of appendBatchSize, keyed as the pump keys them', async () => {
    const log = memoryLog();
    const progress: number[] = [];
    const result = await backfillHistory(log, { until: UNTIL, days: 2, eventsPerDay: 1000, appendBatchSize: 300 }, (n) => progress.push(n));
    expect(result).toMatchObject({ events: 2000, from: UNTIL - 2 * DAY, to: UNTIL });
    expect(log.batches.map((b) => b.length)).toEqual([...new Array<number>(6).fill(300), 200]);
    expect(progress.at(-1)).toBe(2000);
    const values = log.batches.flat().map((m) => String(m.value));
    expect(values).toEqual([...historyEvents({ until: UNTIL, days: 2, eventsPerDay: 1000 })].map((e) => JSON.stringify(e)));
    for (const m of log.batches.flat()) expect(m.key).toBe(pageViewKey(JSON.parse(String(m.value)) as PageView));
  });

  it('appends nothing for 0 days', async () => {
    const log = memoryLog();
    expect(await backfillHistory(log, { until: UNTIL, days: 0 })).toMatchObject({ events: 0, from: UNTIL, to: UNTIL });
    expect(log.batches).toEqual([]);
  });

  it('back-fills the default week (21,000 events) in well under a few seconds', async () => {
    const log = memoryLog();
    const result = await backfillHistory(log, { until: UNTIL, visitFields: true });
    expect(result.events).toBe(HISTORY_BACKFILL_DEFAULTS.days * HISTORY_BACKFILL_DEFAULTS.eventsPerDay);
    expect(result.durationMs).toBeLessThan(3000);
  });
});
