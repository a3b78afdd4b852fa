import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SESSION_GAP_MS, type SessionTotals } from '../../shared/core/sessions.ts';
import { ByteBudget, EVICTION_PASS_MS, residentFromAt } from '../../speed-layer/partition-state.ts';
import {
  SESSION_CHUNK_SLOTS,
  SESSION_IDLE_MARGIN_MS,
  SessionState,
  type OpenSessionRow,
  type SessionPageView,
  type SessionSettings,
  type SessionSnapshot,
  type SessionSumRow,
} from '../../speed-layer/session-state.ts';
import { truthSessions, truthTotals, type TruthEvent } from '../support/ground-truth-sessions.ts';

const MIN = 60_000;
const GAP = SESSION_GAP_MS;
/** 23:00 UTC: an hour before midnight. */
const T0 = Date.UTC(2026, 2, 14, 23, 0);
const MIDNIGHT = Date.UTC(2026, 2, 15);

let clock = T0;
const settings = (hotWindowMs: number): SessionSettings => ({ hotWindowMs, now: () => clock });
/** Everything resident, or a hot window of one minute (most changes then go to the late lane). */
const HOT_WINDOWS = [['all minutes resident', 24 * 60 * MIN], ['a one-minute hot window', MIN]] as const;

let n = 0;
type Event = SessionPageView & TruthEvent;
/** A page view `ms` after T0, with a fresh eventId. */
function pv(visitorId: string, ms: number, pageId = '/a', site = 'a.example'): Event {
  n += 1;
  return { eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, site, visitorId, pageId, timestamp: T0 + ms };
}
/** A visitor id as the collector makes them: 32 hex digits. */
const hexId = (i: number): string => (i * 2654435761 + 0x1234567).toString(16).padStart(32, '0').slice(-32);

const key = (site: string, kind: string, pageId: string, bucket: number): string => `${site} ${kind} ${pageId} ${bucket}`;
const zero = (t: SessionTotals): boolean => t.visits === 0 && t.bounces === 0 && t.durationMs === 0 && t.pageviews === 0;
const totalsOf = (t: SessionTotals): SessionTotals => ({ visits: t.visits, bounces: t.bounces, durationMs: t.durationMs, pageviews: t.pageviews });

/**
 * The store as a restart and the readers see it: the latest row per key, this partition's and
 * its late lane's apart (readers add them); the open sessions, deleted when closed.
 */
class RowStore {
  readonly own = new Map<string, SessionSumRow>();
  readonly lane = new Map<string, SessionSumRow>();
  readonly open = new Map<string, OpenSessionRow>();
  write(s: SessionSnapshot): void {
    for (const r of s.sums) this.own.set(key(r.site, r.kind, r.pageId, r.bucket), r);
    for (const r of s.laneSums) this.lane.set(key(r.site, r.kind, r.pageId, r.bucket), r);
    for (const k of s.closedSessions) this.open.delete(`${k.site} ${k.visitorId}`);
    for (const r of s.openSessions) this.open.set(`${r.site} ${r.visitorId}`, r);
  }
  /** Sums per key as a reader sees them: own + lane, zero keys left out. */
  sums(): Record<string, SessionTotals> {
    const out = new Map<string, SessionTotals>();
    for (const r of [...this.own.values(), ...this.lane.values()]) {
      const k = key(r.site, r.kind, r.pageId, r.bucket);
      const t = out.get(k) ?? { visits: 0, bounces: 0, durationMs: 0, pageviews: 0 };
      t.visits += r.visits;
      t.bounces += r.bounces;
      t.durationMs += r.durationMs;
      t.pageviews += r.pageviews;
      out.set(k, t);
    }
    return Object.fromEntries([...out].filter(([, t]) => !zero(t)).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  /** What a restart reads: sums of resident minutes, every open session, the lane. */
  restored(residentFrom: number) {
    return { residentFrom, sums: [...this.own.values()].filter((r) => r.bucket >= residentFrom), openSessions: [...this.open.values()], lane: [...this.lane.values()] };
  }
  /** The stored rows of a lane read's keys (what the speed layer reads before `mergeLane`). */
  rowsFor(keys: readonly Pick<SessionSumRow, 'site' | 'kind' | 'pageId' | 'bucket'>[]): SessionSumRow[] {
    return keys.flatMap((k) => this.own.get(key(k.site, k.kind, k.pageId, k.bucket)) ?? []);
  }
}

function checkpoint(state: SessionState, store: RowStore): SessionSnapshot {
  const s = state.snapshot();
  store.write(s);
  state.checkpointed(s);
  return s;
}

/**
 * What the speed layer's sums should be, from the ground truth alone: the sessions of every
 * event, less those the batch layer counts (of the events before the boundary), per key. The
 * sessions are grouped by (site, start minute) first, so that large cases stay linear.
 */
function expected(all: readonly TruthEvent[], beforeBoundary: readonly TruthEvent[] = []): Record<string, SessionTotals> {
  const groups = (sessions: ReturnType<typeof truthSessions>) => {
    const by = new Map<string, typeof sessions>();
    for (const s of sessions) {
      const k = `${s.site} ${Math.floor(s.start / MIN) * MIN}`;
      const list = by.get(k) ?? [];
      list.push(s);
      by.set(k, list);
    }
    return by;
  };
  const sessions = groups(truthSessions(all));
  const batch = groups(truthSessions(beforeBoundary));
  const out = new Map<string, SessionTotals>();
  for (const k of new Set([...sessions.keys(), ...batch.keys()])) {
    const ours = sessions.get(k) ?? [];
    const theirs = batch.get(k) ?? [];
    const site = k.slice(0, k.lastIndexOf(' '));
    const from = Number(k.slice(k.lastIndexOf(' ') + 1));
    const wheres: [string, string, Parameters<typeof truthTotals>[1]][] = [['total', '', { site, from, to: from + MIN }]];
    for (const page of new Set([...ours, ...theirs].map((s) => s.entryPage))) wheres.push(['entry', page, { site, from, to: from + MIN, entryPage: page }]);
    for (const page of new Set([...ours, ...theirs].map((s) => s.exitPage))) wheres.push(['exit', page, { site, from, to: from + MIN, exitPage: page }]);
    for (const [kind, page, where] of wheres) {
      const a = truthTotals(ours, where);
      const b = truthTotals(theirs, where);
      out.set(key(site, kind, page, from), { visits: a.visits - b.visits, bounces: a.bounces - b.bounces, durationMs: a.durationMs - b.durationMs, pageviews: a.pageviews - b.pageviews });
    }
  }
  return Object.fromEntries([...out].filter(([, t]) => !zero(t)).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Applies events in order (those before `boundary` uncounted), with the wall clock at each event's time, checkpointing after each. */
function run(events: readonly Event[], hotWindowMs: number, boundary = Number.NEGATIVE_INFINITY): { state: SessionState; store: RowStore } {
  clock = events[0]?.timestamp ?? T0;
  const state = new SessionState(settings(hotWindowMs));
  const store = new RowStore();
  for (const e of events) {
    clock = Math.max(clock, e.timestamp);
    state.apply(e, Math.floor(e.timestamp / MIN) * MIN >= boundary);
    checkpoint(state, store);
  }
  return { state, store };
}

describe('SessionState against the ground-truth sessionizer', () => {
  const cases: [string, Event[]][] = [
    ['a gap of 30 minutes less 1 ms continues the visit', [pv('v', 0, '/a'), pv('v', GAP - 1, '/b')]],
    ['a gap of exactly 30 minutes continues the visit', [pv('v', 0, '/a'), pv('v', GAP, '/b')]],
    ['a gap of 30 minutes and 1 ms starts a new visit', [pv('v', 0, '/a'), pv('v', GAP + 1, '/b')]],
    ['a visit across midnight is one visit of the minute it started', [pv('v', 50 * MIN, '/a'), pv('v', 70 * MIN, '/b'), pv('v', 95 * MIN, '/c')]],
    ['entry and exit pages of equal times are ordered by page id', [pv('v', 0, '/b'), pv('v', 0, '/a'), pv('v', 5 * MIN, '/z'), pv('v', 5 * MIN, '/y')]],
    ['a late event inside the gap before a visit moves its start', [pv('v', 40 * MIN, '/b'), pv('v', 15 * MIN, '/a'), pv('v', 44 * MIN, '/c')]],
    ['a late event more than the gap before a visit is a visit of its own', [pv('v', 40 * MIN, '/b'), pv('v', 5 * MIN, '/a'), pv('v', 41 * MIN, '/c')]],
    ['visitors and sites are apart', [pv('v', 0), pv('w', MIN), pv('v', 2 * MIN, '/a', 'b.example'), pv(hexId(1), 3 * MIN), pv('v', 4 * MIN, '/b')]],
  ];
  // The same event delivered twice in a row.
  const first = pv('v', 0, '/a');
  cases.push(['the visitor\'s last event delivered again is dropped', [first, { ...first }, pv('v', MIN, '/b'), pv('v', 2 * MIN, '/c')]]);

  for (const [window, hotWindowMs] of HOT_WINDOWS) {
    describe(window, () => {
      it.each(cases)('%s', (_name, events) => {
        const { store } = run(events, hotWindowMs);
        expect(store.sums()).toEqual(expected(events));
      });
    });
  }

  it('a redelivery right after is reported as a duplicate; one after another event of the visitor is counted again', () => {
    clock = T0;
    const state = new SessionState(settings(GAP));
    const a = pv('v', 0);
    const b = pv('v', MIN);
    expect([state.apply(a, true), state.apply({ ...a }, true), state.apply(b, true), state.apply({ ...a }, true)]).toEqual(['counted', 'duplicate', 'counted', 'counted']);
    const [open] = state.snapshot().openSessions;
    expect(open).toMatchObject({ pageviews: 3 });
  });

  describe('the batch boundary', () => {
    const boundary = MIDNIGHT;
    const cases: [string, Event[]][] = [
      ['a visit begun before the boundary and continued after it', [pv('v', 50 * MIN, '/a'), pv('v', 55 * MIN, '/b'), pv('v', 62 * MIN, '/c'), pv('v', 80 * MIN, '/d')]],
      ['a bounce before the boundary continued after it', [pv('v', 59 * MIN, '/a'), pv('v', 61 * MIN, '/b')]],
      ['a visit before the boundary, then a new one after it', [pv('v', 20 * MIN, '/a'), pv('v', 20 * MIN + GAP + 1, '/b'), pv('w', 65 * MIN)]],
    ];
    for (const [window, hotWindowMs] of HOT_WINDOWS) {
      it.each(cases)(`${window}: %s: the continuation is no new visit, and is counted in the start minute`, (_name, events) => {
        const before = events.filter((e) => e.timestamp < boundary);
        const { store } = run(events, hotWindowMs, boundary);
        const want = expected(events, before);
        expect(store.sums()).toEqual(want);
        // No visit after the boundary unless one starts there.
        const visitsAfter = Object.entries(want).filter(([k]) => k.includes(' total ') && Number(k.split(' ').at(-1)) >= boundary);
        expect(visitsAfter.reduce((s, [, t]) => s + t.visits, 0)).toBe(truthSessions(events).filter((s) => s.start >= boundary).length);
      });
    }

    it('events before the boundary emit no sums, only their open session', () => {
      clock = T0;
      const state = new SessionState(settings(GAP));
      expect(state.apply(pv('v', 50 * MIN), false)).toBe('before_boundary');
      const s = state.snapshot();
      expect(s.sums).toEqual([]);
      expect(s.openSessions).toMatchObject([{ visitorId: 'v', start: T0 + 50 * MIN, pageviews: 1 }]);
    });
  });
});

/** Random in-order streams of several visitors on two sites; gaps around 30 minutes often. */
const streams = fc.array(
  fc.record({
    visitor: fc.constantFrom('v', 'w', hexId(7), hexId(8), 'ABCDEF0123456789ABCDEF0123456789', 'x'.repeat(32)),
    site: fc.constantFrom('a.example', 'b.example'),
    page: fc.constantFrom('/', '/a', '/b', '/blog/post-1'),
    gap: fc.oneof(fc.integer({ min: 0, max: 40 * MIN }), fc.constantFrom(0, GAP - 1, GAP, GAP + 1)),
    duplicate: fc.boolean(),
    checkpoint: fc.boolean(),
    merge: fc.boolean(),
  }),
  { maxLength: 60 },
);

function eventsOf(steps: readonly { visitor: string; site: string; page: string; gap: number; duplicate: boolean }[]): Event[] {
  // Each step is a visitor's next page view, `gap` after its previous one (on any site); the
  // stream is all of them in time order (a stable sort keeps a redelivery right after its event).
  const last = new Map<string, number>();
  const events: Event[] = [];
  for (const s of steps) {
    const t = (last.get(s.visitor) ?? 0) + s.gap;
    last.set(s.visitor, t);
    const e = pv(s.visitor, t, s.page, s.site);
    events.push(e);
    if (s.duplicate) events.push({ ...e });
  }
  return events.sort((a, b) => a.timestamp - b.timestamp);
}

describe('SessionState: random in-order streams', () => {
  it('the rows written, summed per key, equal the ground truth per start minute, entry page and exit page', () => {
    fc.assert(
      fc.property(streams, fc.constantFrom(MIN, 10 * MIN, 24 * 60 * MIN), (steps, hotWindowMs) => {
        const events = eventsOf(steps);
        clock = T0;
        const state = new SessionState(settings(hotWindowMs));
        const store = new RowStore();
        for (let i = 0; i < events.length; i++) {
          const e = events[i]!;
          // The wall clock follows event time, so closing silent visitors changes nothing in order.
          clock = Math.max(clock, e.timestamp + 5_000);
          state.apply(e, true);
          const step = steps[Math.min(i, steps.length - 1)]!;
          if (step.checkpoint || i === events.length - 1) checkpoint(state, store);
          if (step.merge) {
            const read = state.laneKeys();
            if (read !== null) state.mergeLane(store.rowsFor(read.keys), read);
          }
        }
        checkpoint(state, store);
        expect(store.sums()).toEqual(expected(events));
        expect(state.earlyEvictions).toBe(0);
      }),
    );
  });

  it('a restart from the last checkpoint (rows and open sessions), replaying what followed it, neither loses nor doubles a visit', () => {
    fc.assert(
      fc.property(streams, fc.nat(), fc.nat(), fc.constantFrom(MIN, 10 * MIN, 24 * 60 * MIN), (steps, a, b, hotWindowMs) => {
        const events = eventsOf(steps);
        const killedAt = events.length === 0 ? 0 : a % (events.length + 1);
        const checkpointAt = b % (killedAt + 1);
        clock = T0;
        const store = new RowStore();
        const first = new SessionState(settings(hotWindowMs));
        for (let i = 0; i < killedAt; i++) {
          clock = Math.max(clock, events[i]!.timestamp + 5_000);
          first.apply(events[i]!, true);
          if (i + 1 === checkpointAt) checkpoint(first, store);
        }
        // SIGKILL: what followed the checkpoint is lost with the process, and read again from the log.
        const restarted = new SessionState(settings(hotWindowMs), undefined, store.restored(residentFromAt(clock, hotWindowMs)));
        for (let i = checkpointAt; i < events.length; i++) {
          clock = Math.max(clock, events[i]!.timestamp + 5_000);
          restarted.apply(events[i]!, true);
          if (steps[Math.min(i, steps.length - 1)]!.checkpoint) checkpoint(restarted, store);
        }
        checkpoint(restarted, store);
        expect(store.sums()).toEqual(expected(events));
      }),
    );
  });

  it('after a failed write, restoreDirty writes the same rows again, changes since included', () => {
    clock = T0;
    const state = new SessionState(settings(GAP));
    const store = new RowStore();
    const events = [pv('v', 0, '/a'), pv('w', MIN, '/b'), pv('v', 2 * MIN, '/c'), pv('w', 3 * MIN, '/a')];
    state.apply(events[0]!, true);
    state.apply(events[1]!, true);
    const lost = state.snapshot();
    state.apply(events[2]!, true);
    state.restoreDirty(lost);
    state.apply(events[3]!, true);
    checkpoint(state, store);
    expect(store.sums()).toEqual(expected(events));
    expect([...store.open.values()].map((r) => [r.visitorId, r.pageviews]).sort()).toEqual([['v', 2], ['w', 2]]);
  });
});

describe('SessionState eviction', () => {
  it('closes a visitor\'s session when its site\'s event time is more than 30 minutes past its end, not when another site\'s is', () => {
    clock = T0;
    const state = new SessionState(settings(GAP));
    const store = new RowStore();
    state.apply(pv('v', 0, '/a', 'a.example'), true);
    state.apply(pv('x', 0, '/a', 'b.example'), true);
    // b.example's clock, far ahead, closes x but nothing of a.example; a.example's, exactly 30 minutes past v's end, not v.
    state.apply(pv('y', 10 * GAP, '/a', 'b.example'), true);
    state.apply(pv('w', GAP, '/a', 'a.example'), true);
    checkpoint(state, store);
    expect(state.activeVisitors).toBe(3);
    expect(checkpoint(state, store).closedSessions).toEqual([{ site: 'b.example', visitorId: 'x' }]);
    expect([...store.open.keys()].sort()).toEqual(['a.example v', 'a.example w', 'b.example y']);
    // One millisecond more.
    state.apply(pv('w', GAP + 1, '/b', 'a.example'), true);
    checkpoint(state, store);
    expect(state.activeVisitors).toBe(3); // the previous pass was less than EVICTION_PASS_MS ago
    clock += EVICTION_PASS_MS;
    checkpoint(state, store);
    expect(state.activeVisitors).toBe(2);
    expect(checkpoint(state, store).closedSessions).toEqual([{ site: 'a.example', visitorId: 'v' }]);
    expect([...store.open.keys()].sort()).toEqual(['a.example w', 'b.example y']);
    expect(state.closedSessions).toBe(2);
    expect(state.earlyEvictions).toBe(0);
  });

  it.each([
    ['keeps', GAP + SESSION_IDLE_MARGIN_MS, 1],
    ['closes', GAP + SESSION_IDLE_MARGIN_MS + 1, 0],
  ])('%s a silent visitor\'s session %d ms after its last event was applied (wall clock), at the next pass', (_what, idleMs, active) => {
    clock = T0;
    const state = new SessionState(settings(GAP));
    const store = new RowStore();
    state.apply(pv('v', 0), true);
    clock = T0 + idleMs;
    expect(state.hasChanges()).toBe(true);
    checkpoint(state, store);
    expect(state.activeVisitors).toBe(active);
    expect(checkpoint(state, store).closedSessions).toEqual(active === 1 ? [] : [{ site: 'a.example', visitorId: 'v' }]);
    expect(store.open.size).toBe(active);
    expect(store.sums()).toEqual(expected([pv('v', 0)]));
  });

  it('runs eviction passes every EVICTION_PASS_MS, not per checkpoint', () => {
    clock = T0;
    const state = new SessionState(settings(GAP));
    const store = new RowStore();
    state.apply(pv('v', 0), true);
    checkpoint(state, store); // a pass
    clock = T0 + EVICTION_PASS_MS - 1;
    expect(state.hasChanges()).toBe(false);
    clock = T0 + GAP + SESSION_IDLE_MARGIN_MS + 1;
    checkpoint(state, store); // a pass: closes v
    expect(state.activeVisitors).toBe(0);
    const applied = clock;
    state.apply(pv('w', applied - T0), true);
    clock = applied + GAP + SESSION_IDLE_MARGIN_MS - 1000;
    checkpoint(state, store); // a pass: w is not silent long enough
    clock += 1001;
    checkpoint(state, store); // it is now, but this is too soon after the previous pass
    expect(state.activeVisitors).toBe(1);
    clock += EVICTION_PASS_MS;
    checkpoint(state, store);
    expect(state.activeVisitors).toBe(0);
  });

  it('a visitor closed and back before the snapshot is written as open, not closed', () => {
    clock = T0;
    const state = new SessionState(settings(GAP));
    const store = new RowStore();
    state.apply(pv('v', 0), true);
    checkpoint(state, store);
    clock = T0 + GAP + SESSION_IDLE_MARGIN_MS + EVICTION_PASS_MS;
    checkpoint(state, store); // closes v: its removal is in the next snapshot
    state.apply(pv('v', clock - T0), true);
    const s = checkpoint(state, store);
    expect(s.closedSessions).toEqual([]);
    expect(s.openSessions.map((r) => r.visitorId)).toEqual(['v']);
    expect(store.open.size).toBe(1);
  });

  it('evicts written sums of minutes before the hot window once idle, but not those of a minute an open session starts in; late changes go to the lane', () => {
    clock = T0;
    const state = new SessionState(settings(MIN));
    const store = new RowStore();
    const events = [pv('v', 0, '/a'), pv('w', 0, '/b'), pv('z', 0, '/a', 'b.example')];
    for (const e of events) state.apply(e, true);
    checkpoint(state, store);
    const held = state.memoryBytes;
    // 20 minutes later, w goes on; b.example's clock passes z's end by more than 30 minutes.
    clock = T0 + 20 * MIN;
    events.push(pv('w', 20 * MIN, '/c'));
    state.apply(events.at(-1)!, true);
    clock = T0 + 31 * MIN;
    events.push(pv('q', 31 * MIN, '/q', 'b.example'));
    state.apply(events.at(-1)!, true);
    checkpoint(state, store); // closes z; b.example's minute T0 is idle from now on
    clock += EVICTION_PASS_MS;
    checkpoint(state, store); // ... and evicted
    expect(state.activeVisitors).toBe(2); // w, q (v was silent for 31 minutes by the wall clock)
    expect(state.memoryBytes).toBeLessThan(held + 3 * 128 + 200);
    expect(state.laneEntries).toBe(0); // w's change went to memory: its start minute is held
    expect(store.lane.size).toBe(0);
    // Late visitors of minute T0: a.example's is complete in memory (w starts there), so u's new
    // keys are made there; b.example's lost its sums, so r's three keys go to the lane.
    const late = [pv('u', 30_000, '/z'), pv('r', 10_000, '/a', 'b.example')];
    for (const e of late) state.apply(e, true);
    events.push(...late);
    expect(state.laneEntries).toBe(3);
    checkpoint(state, store);
    expect([...store.lane.values()].map((r) => r.site)).toEqual(['b.example', 'b.example', 'b.example']);
    expect(store.sums()).toEqual(expected(events));
    const read = state.laneKeys()!;
    expect(state.mergeLane(store.rowsFor(read.keys), read)).toBe(3);
    expect(state.laneEntries).toBe(0);
    checkpoint(state, store);
    expect([...store.lane.values()].every(zero)).toBe(true);
    expect(store.sums()).toEqual(expected(events));
  });

  it('a visit longer than the hot window that moves to a new exit page needs no lane: its start minute is complete in memory', () => {
    clock = T0;
    const state = new SessionState(settings(MIN));
    const store = new RowStore();
    const events: Event[] = [];
    for (let m = 0; m <= 60; m += 5) {
      clock = T0 + m * MIN;
      events.push(pv('v', m * MIN, `/page-${m}`), pv('w', m * MIN + 1000, `/other-${m}`));
      state.apply(events.at(-2)!, true);
      state.apply(events.at(-1)!, true);
      clock += EVICTION_PASS_MS;
      checkpoint(state, store);
    }
    expect(state.laneEntries).toBe(0);
    expect(store.lane.size).toBe(0);
    expect(store.sums()).toEqual(expected(events));
    // A restart knows no minute before its hot window complete (its rows were not read): v's next
    // page view goes to the lane — total, entry page, old and new exit page.
    const restarted = new SessionState(settings(MIN), undefined, store.restored(residentFromAt(clock, MIN)));
    clock += MIN;
    events.push(pv('v', 65 * MIN, '/after-restart'));
    restarted.apply(events.at(-1)!, true);
    expect(restarted.laneEntries).toBe(4);
    checkpoint(restarted, store);
    expect(store.sums()).toEqual(expected(events));
  });

  it('a minute that lost some of its sums is no longer complete: a key evicted from it is not made again from zero', () => {
    clock = T0;
    const state = new SessionState(settings(MIN));
    const store = new RowStore();
    const events = [pv('p', 0, '/y'), pv('q', 0, '/x')];
    for (const e of events) state.apply(e, true);
    checkpoint(state, store); // a pass: everything resident, its marks of use cleared
    clock = T0 + 31 * MIN;
    // The site's clock passes p's and q's end by more than 30 minutes; a late visit of minute T0 on /x.
    events.push(pv('k', 31 * MIN, '/k'), pv('r', 50_000, '/x'));
    for (const e of events.slice(2)) state.apply(e, true);
    clock += EVICTION_PASS_MS;
    checkpoint(state, store); // closes p, q, r; evicts /y's sums of minute T0 (idle), keeps the total and /x's (used)
    // Another late visit of minute T0, on /y: its stored row is not in memory any more.
    events.push(pv('t', 10_000, '/y'));
    state.apply(events.at(-1)!, true);
    expect(state.laneEntries).toBe(2);
    checkpoint(state, store);
    expect(store.sums()).toEqual(expected(events));
  });

  it('gives every byte back once sessions are closed and sums written and evicted', () => {
    clock = T0;
    const budget = new ByteBudget(Number.POSITIVE_INFINITY);
    const state = new SessionState(settings(MIN), budget);
    const empty = state.memoryBytes;
    expect(budget.used).toBe(empty);
    const store = new RowStore();
    for (let i = 0; i < 3 * SESSION_CHUNK_SLOTS; i++) state.apply(pv(i % 3 === 0 ? `odd-${i}` : hexId(i), (i % 600) * 1000, `/p${i % 50}`, `s${i % 3}.example`), true);
    checkpoint(state, store);
    expect(state.memoryBytes).toBeGreaterThan(3 * SESSION_CHUNK_SLOTS * 61);
    clock = T0 + 2 * GAP + SESSION_IDLE_MARGIN_MS;
    checkpoint(state, store);
    expect(state.activeVisitors).toBe(0);
    clock += EVICTION_PASS_MS;
    checkpoint(state, store);
    clock += EVICTION_PASS_MS;
    checkpoint(state, store);
    // One spare chunk of slots is kept.
    expect(state.memoryBytes - empty).toBe(SESSION_CHUNK_SLOTS * 61 + 2000);
    expect(budget.used).toBe(state.memoryBytes);
    state.release();
    expect(budget.used).toBe(0);
  });

  it('keeps every visit of the sessions it moves when compacting, and their visitor ids', () => {
    clock = T0;
    const state = new SessionState(settings(24 * 60 * MIN));
    const store = new RowStore();
    const early: Event[] = [];
    const kept: Event[] = [];
    // Visitors of the first chunks fall silent; those of the last chunk go on.
    for (let i = 0; i < 3 * SESSION_CHUNK_SLOTS; i++) early.push(pv(i % 5 === 0 ? `id-${i}` : hexId(i), 0, '/a', `s${i % 2}`));
    for (let i = 0; i < 1000; i++) kept.push(pv(i % 5 === 0 ? `late-${i}` : hexId(10_000_000 + i), 25 * MIN, '/b', `s${i % 2}`));
    for (const e of early) state.apply(e, true);
    clock = T0 + 25 * MIN;
    for (const e of kept) state.apply(e, true);
    checkpoint(state, store);
    clock = T0 + GAP + SESSION_IDLE_MARGIN_MS + EVICTION_PASS_MS;
    checkpoint(state, store);
    expect(state.activeVisitors).toBe(kept.length);
    const more = kept.map((e) => pv(e.visitorId, 40 * MIN, '/c', e.site));
    for (const e of more) state.apply(e, true);
    const s = checkpoint(state, store);
    expect(s.openSessions.map((r) => `${r.site} ${r.visitorId}`).sort()).toEqual(kept.map((e) => `${e.site} ${e.visitorId}`).sort());
    expect(store.sums()).toEqual(expected([...early, ...kept, ...more]));
  });

  it('beyond the byte budget closes the sessions idle longest, counts them, and loses no page view', () => {
    clock = T0;
    const visitors = 4 * SESSION_CHUNK_SLOTS;
    const limit = 3 * SESSION_CHUNK_SLOTS * 61;
    const budget = new ByteBudget(limit);
    const state = new SessionState(settings(24 * 60 * MIN), budget);
    const store = new RowStore();
    const events: Event[] = [];
    for (let i = 0; i < visitors; i++) {
      clock = T0 + i * 10; // applied in order: the first visitors are idle longest
      const e = pv(hexId(i), i * 10, '/a');
      events.push(e);
      state.apply(e, true);
    }
    expect(budget.full).toBe(true);
    checkpoint(state, store);
    expect(state.earlyEvictions).toBeGreaterThan(0);
    expect(budget.used).toBeLessThan(limit);
    expect(state.activeVisitors).toBe(visitors - state.earlyEvictions);
    const closed = new Set(checkpoint(state, store).closedSessions.map((k) => k.visitorId));
    expect(closed.size).toBe(state.earlyEvictions);
    // The idle longest: the first ones.
    expect(closed.has(hexId(0)) && !closed.has(hexId(visitors - 1))).toBe(true);
    // Everyone's next page view, within the gap: none is lost; each closed visitor's is one visit too many.
    for (let i = 0; i < visitors; i++) {
      const e = pv(hexId(i), visitors * 10 + MIN, '/b');
      events.push(e);
      state.apply(e, true);
    }
    checkpoint(state, store);
    const truth = truthTotals(truthSessions(events));
    const sums = Object.entries(store.sums()).filter(([k]) => k.includes(' total '));
    const total = sums.reduce((t, [, s]) => ({ visits: t.visits + s.visits, pageviews: t.pageviews + s.pageviews }), { visits: 0, pageviews: 0 });
    expect(total.pageviews).toBe(truth.pageviews);
    expect(total.visits).toBe(truth.visits + closed.size);
  });
});

describe('SessionState rows', () => {
  it('writes open sessions with their visitor ids as given and the hash of the last event, which a restart takes back', () => {
    clock = T0;
    const state = new SessionState(settings(GAP));
    const ids = [hexId(3), 'ABCDEF0123456789ABCDEF0123456789', 'not-hex', 'é-visitor'];
    const events = ids.map((id, i) => pv(id, i * 1000, '/a'));
    for (const e of events) state.apply(e, true);
    const s = state.snapshot();
    expect(s.openSessions.map((r) => r.visitorId)).toEqual(ids);
    expect(s.openSessions.every((r) => /^\d+$/.test(r.lastEventHash ?? ''))).toBe(true);
    const restarted = new SessionState(settings(GAP), undefined, { residentFrom: T0, sums: s.sums, openSessions: s.openSessions });
    expect(restarted.activeVisitors).toBe(ids.length);
    // The last event again, after the restart: still a duplicate.
    expect(events.map((e) => restarted.apply({ ...e }, true))).toEqual(ids.map(() => 'duplicate'));
    expect(restarted.hasChanges()).toBe(true); // an eviction pass is due
    expect(restarted.snapshot()).toMatchObject({ sums: [], openSessions: [] });
    // A next event continues the visit: one visit, two page views.
    restarted.apply(pv(ids[0]!, 2000, '/b'), true);
    const total = restarted.snapshot().sums.find((r) => r.kind === 'total')!;
    expect(totalsOf(total)).toEqual({ visits: 4, bounces: 3, durationMs: 2000, pageviews: 5 });
  });
});
