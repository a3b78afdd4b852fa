import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PageView } from '../../shared/core/page-view.ts';
import { HyperLogLog } from '../../shared/core/sketches/index.ts';
import { speedLateLane, type SpeedRowKeys, type SpeedRows } from '../../shared/adapters/view-store/index.ts';
import { ByteBudget, EVICTION_PASS_MS, PartitionState, type LaneRead, type PartitionSnapshot, type SketchSettings } from '../../speed-layer/partition-state.ts';

const T0 = Date.UTC(2026, 0, 10, 12);
const MIN = 60_000;
let clock = T0;
const SETTINGS: SketchSettings = {
  hotWindowMs: 2 * MIN,
  maxExactKeys: 1000,
  cmsEpsilon: 0.01,
  cmsDelta: 0.01,
  topPagesCapacity: 10,
  hllPrecision: 14,
  // The dimension views are the page machinery under other site keys: tested in dimensions.test.ts.
  dimensions: false,
  now: () => clock,
};
let n = 0;
function pv(timestamp: number, pageId = '/a', visitorId = 'v', site = 'default'): PageView {
  n += 1;
  return { schemaVersion: 1, eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, site, pageId, visitorId, timestamp };
}
const views = (s: PartitionState, version: number) =>
  s.snapshot(version).rows.pageMinutes.map((r) => [r.pageId, r.bucket, r.views]).sort();

/**
 * The store as the speed layer and its readers see it: every written row kept with its version
 * and partition (a partition's late lane is a partition of its own); a read takes the latest
 * version per (partition, key) at or below the one asked for, and readers add (views) or unite
 * (visitors) the partitions — what both SQL engines do.
 */
class RowStore {
  readonly minutes: SpeedRows['pageMinutes'] = [];
  readonly visitors: SpeedRows['visitors'] = [];
  readonly overflow: SpeedRows['overflow'] = [];
  readonly sessions: NonNullable<SpeedRows['sessions']> = [];
  write(rows: SpeedRows): void {
    this.sessions.push(...(rows.sessions ?? []));
    this.minutes.push(...rows.pageMinutes);
    this.visitors.push(...rows.visitors);
    this.overflow.push(...rows.overflow);
  }
  /** The latest row per key (`key` includes the partition) at or below `maxVersion`, among those `keep` selects. */
  private latest<R extends { version: number }>(rows: readonly R[], key: (r: R) => string, maxVersion = Infinity, keep: (r: R) => boolean = () => true): R[] {
    const best = new Map<string, R>();
    for (const r of rows) {
      if (r.version > maxVersion || !keep(r)) continue;
      const seen = best.get(key(r));
      if (seen === undefined || r.version > seen.version) best.set(key(r), r);
    }
    return [...best.values()];
  }
  /** Views per `site page minute` as a reader sees them: every partition's latest row, added. */
  views(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.latest(this.minutes, (r) => `${r.partition} ${r.site} ${r.pageId} ${r.bucket}`)) {
      const key = `${r.site} ${r.pageId} ${r.bucket}`;
      out.set(key, (out.get(key) ?? 0) + r.views);
    }
    for (const [key, views] of out) if (views === 0) out.delete(key);
    return out;
  }
  /** Views per `site minute`: exact counters plus the overflow totals. */
  siteMinutes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [key, views] of this.views()) {
      const [site, , minute] = key.split(' ');
      out.set(`${site} ${minute}`, (out.get(`${site} ${minute}`) ?? 0) + views);
    }
    for (const r of this.latest(this.overflow, (r) => `${r.partition} ${r.site} ${r.bucket}`)) {
      out.set(`${r.site} ${r.bucket}`, (out.get(`${r.site} ${r.bucket}`) ?? 0) + r.total);
    }
    return out;
  }
  /** A visitors sketch as a reader sees it: every partition's latest, united. */
  visitorsOf(site: string, pageId: string, grain: string, bucket: number): HyperLogLog {
    const rows = this.latest(this.visitors, (r) => `${r.partition} ${r.site} ${r.pageId} ${r.grain} ${r.bucket}`, Infinity,
      (r) => r.site === site && r.pageId === pageId && r.grain === grain && r.bucket === bucket);
    return HyperLogLog.union(rows.map((r) => HyperLogLog.fromBase64(r.hll)));
  }
  /** Visits of the sessions that start in a minute (of a site, or of an entry or exit page under its site), as a reader sees them. */
  visits(site: string, pageId: string, bucket: number): number {
    return this.latest(this.sessions, (r) => `${r.partition} ${r.site} ${r.pageId} ${r.bucket}`, Infinity, (r) => r.site === site && r.pageId === pageId && r.bucket === bucket).reduce(
      (a, r) => a + r.visits,
      0,
    );
  }
  /** `speedRowsFor`: partition 0's own rows of the keys. */
  rowsFor(maxVersion: number, keys: SpeedRowKeys): Pick<SpeedRows, 'pageMinutes' | 'visitors' | 'sessions'> {
    const minutes = new Set(keys.pageMinutes.map((k) => `${k.site} ${k.pageId} ${k.bucket}`));
    const visitors = new Set(keys.visitors.map((k) => `${k.site} ${k.pageId} ${k.grain} ${k.bucket}`));
    const sessions = new Set((keys.sessions ?? []).map((k) => `${k.site} ${k.pageId} ${k.bucket}`));
    return {
      sessions: this.latest(this.sessions, (r) => `${r.site} ${r.pageId} ${r.bucket}`, maxVersion, (r) => r.partition === 0 && sessions.has(`${r.site} ${r.pageId} ${r.bucket}`)),
      pageMinutes: this.latest(this.minutes, (r) => `${r.site} ${r.pageId} ${r.bucket}`, maxVersion, (r) => r.partition === 0 && minutes.has(`${r.site} ${r.pageId} ${r.bucket}`)),
      visitors: this.latest(this.visitors, (r) => `${r.site} ${r.pageId} ${r.grain} ${r.bucket}`, maxVersion, (r) => r.partition === 0 && visitors.has(`${r.site} ${r.pageId} ${r.grain} ${r.bucket}`)),
    };
  }
  /** `speedPartitionState`: a partition's latest rows at or below `maxVersion` of buckets from `from` on (visitors: from its hour). */
  stateAt(partition: number, maxVersion: number, from: number): SpeedRows {
    const fromHour = Math.floor(from / (60 * MIN)) * 60 * MIN;
    return {
      pageMinutes: this.latest(this.minutes, (r) => `${r.site} ${r.pageId} ${r.bucket}`, maxVersion, (r) => r.partition === partition && r.bucket >= from),
      overflow: this.latest(this.overflow, (r) => `${r.site} ${r.bucket}`, maxVersion, (r) => r.partition === partition && r.bucket >= from),
      visitors: this.latest(this.visitors, (r) => `${r.site} ${r.pageId} ${r.grain} ${r.bucket}`, maxVersion, (r) => r.partition === partition && r.bucket >= fromHour),
    };
  }
}

/** A lane merge with its read back to back (no event applied in between). */
function merge(state: PartitionState, store: RowStore): number {
  const read = state.laneKeys();
  return read === null ? 0 : state.mergeLane(store.rowsFor(state.checkpointVersion, read.keys), read);
}

/** One flush: snapshot (the late lane included; the pages' sketches unless `withSketches` is false), write, checkpoint. */
function flush(state: PartitionState, store: RowStore, version: number, withSketches = true): PartitionSnapshot {
  const snapshot = state.snapshot(version, withSketches);
  store.write(snapshot.rows);
  state.checkpointed(snapshot);
  return snapshot;
}

describe('PartitionState', () => {
  it('sessions: a late visit to a minute whose sums left memory goes to the late lane at once, and merges into the stored row later', () => {
    clock = T0;
    const store = new RowStore();
    const state = new PartitionState(0, SETTINGS);
    state.apply(0, pv(T0, '/a', 'v1'));
    flush(state, store, 1);
    // 40 minutes on, by the wall clock and the site's events: v1's session closes, and minute T0's sums leave memory.
    let offset = 1;
    for (let version = 2; version < 6; version++) {
      clock = T0 + 40 * MIN + version * EVICTION_PASS_MS;
      state.apply(offset++, pv(clock, '/b', `v-now-${version}`));
      flush(state, store, version);
    }
    expect(store.visits('default', '', T0)).toBe(1);
    // A late visit that started in minute T0.
    state.apply(offset++, pv(T0 + 10_000, '/c', 'v-late'));
    const lane = flush(state, store, 6).rows.sessions ?? [];
    expect(lane.filter((r) => r.bucket === T0).map((r) => [r.partition, r.site, r.pageId, r.visits]).sort()).toEqual([
      [speedLateLane(0), 'default', '', 1],
      [speedLateLane(0), 'default|visit:entry_page', '/c', 1],
      [speedLateLane(0), 'default|visit:exit_page', '/c', 1],
    ]);
    expect(store.visits('default', '', T0)).toBe(2); // readers add the lane: fresh after one flush
    expect(state.sessions?.laneEntries).toBe(3);
    expect(merge(state, store)).toBeGreaterThanOrEqual(3); // the page views' lane entries of the late event too
    flush(state, store, 7);
    expect(state.laneEntries).toBe(0);
    expect(store.visits('default', '', T0)).toBe(2);
    expect(store.visits('default|visit:entry_page', '/a', T0)).toBe(1);
    expect(store.visits('default|visit:entry_page', '/c', T0)).toBe(1);
    expect(store.sessions.filter((r) => r.partition === 0 && r.bucket === T0 && r.pageId === '').at(-1)?.visits).toBe(2); // the partition's own row holds both
  });

  it('counts views per page and minute, and snapshots only what changed', () => {
    clock = T0;
    const state = new PartitionState(0, SETTINGS);
    expect(state.apply(0, pv(T0))).toBe('counted');
    expect(state.apply(1, pv(T0 + 59_999))).toBe('counted');
    expect(state.apply(2, pv(T0 + MIN, '/b'))).toBe('counted');
    const first = state.snapshot(1);
    expect(first.nextOffset).toBe(3);
    expect(first.rows.pageMinutes.map((r) => [r.pageId, r.bucket, r.views]).sort()).toEqual([
      ['/a', T0, 2],
      ['/b', T0 + MIN, 1],
    ]);
    state.checkpointed(first);
    expect(state.hasChanges()).toBe(false);
    state.apply(3, pv(T0 + MIN, '/b'));
    expect(views(state, 2)).toEqual([['/b', T0 + MIN, 2]]);
  });

  it('skips records below the checkpointed offset (replay after a crash)', () => {
    clock = T0;
    const state = new PartitionState(0, SETTINGS, undefined, {
      nextOffset: 10,
      maxEventTime: T0,
      version: 5,
      residentFrom: T0 - 2 * MIN,
      rows: { pageMinutes: [{ partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 7, version: 5 }], overflow: [], visitors: [] },
    });
    expect(state.apply(9, pv(T0))).toBe('replayed');
    expect(state.apply(10, pv(T0))).toBe('counted');
    expect(views(state, 6)).toEqual([['/a', T0, 8]]);
  });

  it('counts an event for a minute no longer in memory in the late lane at once, and merges the lane into the stored rows later', () => {
    clock = T0;
    const store = new RowStore();
    // The page views' lane alone (the sessions' lane: the test before).
    const state = new PartitionState(0, { ...SETTINGS, sessions: false });
    state.apply(0, pv(T0, '/a', 'v1'));
    flush(state, store, 1);
    clock = T0 + 90 * MIN; // the minute leaves the hot window at the next checkpoint…
    state.apply(1, pv(T0 + 90 * MIN, '/b'));
    flush(state, store, 2);
    expect(state.size).toBe(2); // …and memory once idle for a whole eviction pass
    clock += EVICTION_PASS_MS;
    flush(state, store, 3);
    expect(state.size).toBe(1); // only /b's minute is resident

    expect(state.apply(2, pv(T0 + 30_000, '/a', 'v2'))).toBe('counted'); // 90 minutes late
    const lane = flush(state, store, 4).rows;
    expect(lane.pageMinutes.map((r) => [r.partition, r.pageId, r.views])).toEqual([[speedLateLane(0), '/a', 1]]);
    expect(lane.visitors.map((r) => [r.partition, r.pageId, r.grain, r.bucket])).toEqual([
      [speedLateLane(0), '', 'minute', T0], [speedLateLane(0), '', 'hour', T0], [speedLateLane(0), '/a', 'hour', T0],
    ]);
    expect(store.views().get(`default /a ${T0}`)).toBe(2); // readers add the lane: fresh after one flush
    expect(Math.round(store.visitorsOf('default', '', 'minute', T0).estimate())).toBe(2);

    // The merge's read is in flight; events keep coming: one for a key being read, one for another.
    const read = state.laneKeys();
    expect(read?.keys.pageMinutes).toEqual([{ site: 'default', pageId: '/a', bucket: T0 }]);
    expect(state.apply(3, pv(T0 + 45_000, '/a', 'v4'))).toBe('counted');
    expect(state.apply(4, pv(T0 + 5 * MIN, '/c', 'v5'))).toBe('counted');
    flush(state, store, 5); // a flush during the read writes the lane as it is
    expect(store.views().get(`default /a ${T0}`)).toBe(3);
    expect(state.mergeLane(store.rowsFor(4, read!.keys), read!)).toBe(4);
    expect(state.laneEntries).toBe(3); // /c's views, its page-hour and its minute's visitors wait for the next merge (the site-hour was read)
    const merged = flush(state, store, 6).rows;
    expect(merged.pageMinutes.filter((r) => r.pageId === '/a').map((r) => [r.partition, r.views]).sort()).toEqual([[speedLateLane(0), 0], [0, 3]]);
    expect(merge(state, store)).toBe(3);
    flush(state, store, 7);
    expect(state.laneEntries).toBe(0);
    expect(store.views().get(`default /a ${T0}`)).toBe(3);
    expect(store.views().get(`default /c ${T0 + 5 * MIN}`)).toBe(1);
    expect(Math.round(store.visitorsOf('default', '', 'minute', T0).estimate())).toBe(3); // v1 from the store ∪ v2, v4
    expect(store.rowsFor(7, { pageMinutes: [{ site: 'default', pageId: '/a', bucket: T0 }], visitors: [] }).pageMinutes[0]?.views).toBe(3);

    // Merged and busy: the next late event for the same minute is counted in memory.
    state.apply(5, pv(T0 + 40_000, '/a', 'v3'));
    expect(flush(state, store, 8).rows.pageMinutes.map((r) => [r.partition, r.views])).toEqual([[0, 4]]);
    expect(store.views().get(`default /a ${T0}`)).toBe(4);
  });

  it('leaves events before the published boundary to the batch layer', () => {
    clock = T0;
    const state = new PartitionState(0, SETTINGS);
    state.boundary = T0;
    expect(state.apply(0, pv(T0 - 1))).toBe('before_boundary');
    expect(state.apply(1, pv(T0))).toBe('counted');
    expect(state.nextOffset).toBe(2);
  });

  it("one site's clock moves nothing for another: events far ahead on one site leave the other's counted in memory", () => {
    clock = T0 + 10 * MIN;
    const honest = new PartitionState(0, SETTINGS);
    const mixed = new PartitionState(0, SETTINGS);
    let offset = 0;
    for (let i = 0; i < 200; i++) {
      const event = pv(T0 + 9 * MIN + i * 100, `/p${i % 5}`, `v${i}`, 'honest');
      expect(honest.apply(offset, event)).toBe('counted');
      if (i % 5 === 0) expect(mixed.apply(offset++, pv(T0 + 10 * MIN + 290_000, '/x', 'skewed', 'other'))).toBe('counted');
      expect(mixed.apply(offset++, event)).toBe('counted');
    }
    const honestRows = honest.snapshot(1).rows;
    const mixedRows = mixed.snapshot(1).rows;
    const site = (rows: SpeedRows) => rows.pageMinutes.filter((r) => r.site === 'honest').map((r) => [r.pageId, r.bucket, r.views]).sort();
    expect(site(mixedRows)).toEqual(site(honestRows));
  });

  it('evicts written minutes once the wall clock moves them out of the hot window and they stay idle, keeping the rest', () => {
    clock = T0;
    const state = new PartitionState(0, SETTINGS);
    state.apply(0, pv(T0));
    state.apply(1, pv(T0 + 3 * MIN, '/b'));
    clock = T0 + 4 * MIN;
    state.checkpointed(state.snapshot(1));
    expect(state.size).toBe(2); // updated since the last pass: kept one more pass
    clock += EVICTION_PASS_MS;
    state.checkpointed(state.snapshot(2));
    expect(state.size).toBe(1);
  });

  it('a failed write marks the snapshot dirty again', () => {
    clock = T0;
    const state = new PartitionState(0, SETTINGS);
    state.apply(0, pv(T0));
    const snap = state.snapshot(1);
    state.restoreDirty(snap);
    const again = state.snapshot(2);
    expect(again.rows.pageMinutes).toHaveLength(1);
    expect(again.rows.visitors.length).toBeGreaterThan(0);
  });

  it('beyond the exact-key budget, views go to the minute overflow: exact total, Count-Min estimate, top pages', () => {
    clock = T0;
    const state = new PartitionState(0, { ...SETTINGS, maxExactKeys: 2 });
    state.apply(0, pv(T0, '/a'));
    state.apply(1, pv(T0, '/b'));
    for (let i = 0; i < 5; i++) state.apply(2 + i, pv(T0, '/c'));
    state.apply(7, pv(T0, '/d'));
    state.apply(8, pv(T0, '/a')); // still exact: the counter exists
    const { rows } = state.snapshot(1);
    expect(rows.pageMinutes.map((r) => [r.pageId, r.views]).sort()).toEqual([['/a', 2], ['/b', 1]]);
    expect(rows.overflow).toHaveLength(1);
    const overflow = rows.overflow[0]!;
    expect(overflow.total).toBe(6);
    expect(overflow.cms).toHaveLength(overflow.cmsWidth * overflow.cmsDepth);
    expect((JSON.parse(overflow.topPages) as { items: unknown[] }).items).toContainEqual(['/c', 5, 0]);
  });

  it('beyond the byte budget, new pages go to the minute overflow too', () => {
    clock = T0;
    const budget = new ByteBudget(20_000);
    // Without sessions: their first chunk of open-session slots (about 1 MB) would fill this budget alone.
    const state = new PartitionState(0, { ...SETTINGS, sessions: false }, budget);
    for (let i = 0; i < 200; i++) state.apply(i, pv(T0, `/page-${i}`, `v${i}`));
    const { rows } = state.snapshot(1);
    expect(rows.pageMinutes.length).toBeGreaterThan(0);
    expect(rows.pageMinutes.length).toBeLessThan(200);
    expect(rows.pageMinutes.reduce((sum, r) => sum + r.views, 0) + rows.overflow[0]!.total).toBe(200);
  });

  it('keeps unique visitors per site-minute, site-hour and tracked page-hour as HyperLogLogs', () => {
    clock = T0;
    const state = new PartitionState(0, SETTINGS);
    for (let i = 0; i < 300; i++) state.apply(i, pv(T0 + (i % 60) * 1000, '/a', `visitor-${i % 120}`));
    const { rows } = state.snapshot(1);
    const estimate = (grain: string, pageId: string) =>
      HyperLogLog.fromBase64(rows.visitors.find((v) => v.grain === grain && v.pageId === pageId)!.hll).estimate();
    for (const [grain, pageId] of [['minute', ''], ['hour', ''], ['hour', '/a']] as const) {
      expect(Math.abs(estimate(grain, pageId) - 120)).toBeLessThanOrEqual(3);
    }
  });

  it('a snapshot restored into a new state continues exactly where it left off', () => {
    clock = T0;
    const a = new PartitionState(0, { ...SETTINGS, maxExactKeys: 3 });
    for (let i = 0; i < 50; i++) a.apply(i, pv(T0 + i * 100, `/p${i % 7}`, `v${i % 13}`));
    const snap = a.snapshot(1);
    a.checkpointed(snap);
    const b = new PartitionState(0, { ...SETTINGS, maxExactKeys: 3 }, undefined, {
      nextOffset: snap.nextOffset,
      maxEventTime: snap.maxEventTime,
      version: 1,
      residentFrom: a.residentFrom,
      rows: snap.rows,
    });
    for (const s of [a, b]) for (let i = 50; i < 80; i++) s.apply(i, pv(T0 + i * 100, `/p${i % 7}`, `v${i % 13}`));
    const sa = a.snapshot(2).rows;
    const sb = b.snapshot(2).rows;
    expect(sb.pageMinutes).toEqual(sa.pageMinutes);
    expect(sb.overflow).toEqual(sa.overflow);
    expect(sb.visitors.sort((x, y) => x.hll.localeCompare(y.hll))).toEqual(sa.visitors.sort((x, y) => x.hll.localeCompare(y.hll)));
  });

  it('property: whatever the lateness, order, budget, reads in flight, flushes and crashes, the stored views equal the exact count of every (site, minute) and, within budget, every (site, page, minute)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            site: fc.constantFrom('a', 'b'),
            page: fc.integer({ min: 0, max: 2 }),
            /** Minutes before the clock at which the event is dated: in the hot window, just behind it, far behind it. */
            age: fc.oneof(fc.constantFrom(0, 1, 3, 5, 20, 90), fc.integer({ min: 0, max: 150 })),
            second: fc.integer({ min: 0, max: 59 }),
            /** Minutes the clock moves before this event. */
            tick: fc.constantFrom(0, 0, 0, 1, 7),
            /** After the event: start a lane merge's read, finish the one in flight, flush (with the pages' sketches or without), or crash (restore the last checkpoint and replay the log from it). */
            then: fc.constantFrom('none', 'none', 'read', 'merge', 'flush', 'flush-without-sketches', 'flush-without-sketches', 'crash'),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        // A budget that the events overflow (then site-minute totals are exact, pages go to the sketches), or none.
        fc.constantFrom(Number.POSITIVE_INFINITY, 12_000),
        (steps, budgetBytes) => {
          clock = T0;
          let budget = new ByteBudget(budgetBytes);
          let state = new PartitionState(0, SETTINGS, budget);
          const store = new RowStore();
          const log: PageView[] = [];
          const truth = new Map<string, number>();
          const siteTruth = new Map<string, number>();
          const pageHourVisitors = new Map<string, HyperLogLog>();
          let version = 0;
          let checkpoint: PartitionSnapshot | null = null;
          /** A lane merge's read in flight: its keys and the checkpoint version it reads at (answered when it finishes). */
          let inFlight: { read: LaneRead; atVersion: number } | null = null;
          const finishRead = (): void => {
            if (inFlight === null) return;
            const { read, atVersion } = inFlight;
            inFlight = null;
            state.mergeLane(store.rowsFor(atVersion, read.keys), read);
          };
          const doFlush = (withSketches = true): void => {
            checkpoint = flush(state, store, ++version, withSketches);
          };
          steps.forEach((e) => {
            clock += e.tick * MIN;
            const time = Math.floor(clock / MIN) * MIN - e.age * MIN + e.second * 1000;
            const minute = Math.floor(time / MIN) * MIN;
            const key = `${e.site} /p${e.page} ${minute}`;
            truth.set(key, (truth.get(key) ?? 0) + 1);
            siteTruth.set(`${e.site} ${minute}`, (siteTruth.get(`${e.site} ${minute}`) ?? 0) + 1);
            log.push(pv(time, `/p${e.page}`, `v${log.length % 5}`, e.site));
            const pageHour = `${e.site} /p${e.page} ${Math.floor(time / (60 * MIN)) * 60 * MIN}`;
            if (!pageHourVisitors.has(pageHour)) pageHourVisitors.set(pageHour, new HyperLogLog(SETTINGS.hllPrecision));
            pageHourVisitors.get(pageHour)!.addString(`v${(log.length - 1) % 5}`);
            state.apply(log.length - 1, log[log.length - 1]!);
            if (e.then === 'read' && inFlight === null) {
              const read = state.laneKeys();
              if (read !== null) inFlight = { read, atVersion: state.checkpointVersion };
            } else if (e.then === 'merge') finishRead();
            else if (e.then === 'flush') doFlush();
            else if (e.then === 'flush-without-sketches') doFlush(false);
            else if (e.then === 'crash') {
              // Unwritten changes and the read in flight are lost; the log is replayed from the checkpoint.
              inFlight = null;
              const cp: PartitionSnapshot | null = checkpoint;
              state.release();
              budget = new ByteBudget(budgetBytes);
              const residentFrom = Math.floor((clock - SETTINGS.hotWindowMs) / MIN) * MIN;
              state = new PartitionState(0, SETTINGS, budget, cp === null ? undefined : {
                nextOffset: cp.nextOffset,
                replayFrom: cp.replayFrom,
                maxEventTime: cp.maxEventTime,
                version: cp.version,
                residentFrom,
                rows: store.stateAt(0, cp.version, residentFrom),
                lane: store.stateAt(speedLateLane(0), cp.version, 0),
              });
              log.forEach((event, offset) => state.apply(offset, event));
            }
            expect(budget.used).toBe(state.memoryBytes);
          });
          doFlush();
          // Fresh before any merge: readers add the late lane.
          expect(store.siteMinutes()).toEqual(siteTruth);
          if (budgetBytes === Number.POSITIVE_INFINITY) expect(store.views()).toEqual(truth);
          finishRead();
          while (merge(state, store) > 0);
          doFlush();
          doFlush();
          // And after every merge: the lane is empty, the partition's own rows hold it all.
          expect(state.laneEntries).toBe(0);
          expect(store.siteMinutes()).toEqual(siteTruth);
          if (budgetBytes === Number.POSITIVE_INFINITY) {
            expect(store.views()).toEqual(truth);
            // Each page's visitors per hour: exactly the registers of its visitors, crashes and replays included.
            for (const [key, expected] of pageHourVisitors) {
              const [site, page, hour] = key.split(' ');
              expect(store.visitorsOf(site!, page!, 'hour', Number(hour)).equals(expected), key).toBe(true);
            }
          }
          expect(budget.used).toBe(state.memoryBytes);
        },
      ),
      { numRuns: 400 },
    );
  });
});
