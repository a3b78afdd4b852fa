import { describe, expect, it } from 'vitest';
import type { PageView } from '../../shared/core/page-view.ts';
import { HyperLogLog } from '../../shared/core/sketches/index.ts';
import { PartitionState, type SketchSettings } from '../../speed-layer/partition-state.ts';

const T0 = Date.UTC(2026, 0, 10, 12);
const MIN = 60_000;
const SETTINGS: SketchSettings = {
  allowedLatenessMs: 2 * MIN,
  maxExactKeys: 1000,
  cmsEpsilon: 0.01,
  cmsDelta: 0.01,
  topPagesCapacity: 10,
  hllPrecision: 14,
};
let n = 0;
function pv(timestamp: number, pageId = '/a', visitorId = 'v'): PageView {
  n += 1;
  return { schemaVersion: 1, eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, site: 'default', pageId, visitorId, timestamp };
}
const views = (s: PartitionState, version: number) =>
  s.snapshot(version).rows.pageMinutes.map((r) => [r.pageId, r.bucket, r.views]).sort();

describe('PartitionState', () => {
  it('counts views per page and minute, and snapshots only what changed', () => {
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
    expect(state.hasChanges).toBe(false);
    state.apply(3, pv(T0 + MIN, '/b'));
    expect(views(state, 2)).toEqual([['/b', T0 + MIN, 2]]);
  });

  it('skips records below the checkpointed offset (replay after a crash)', () => {
    const state = new PartitionState(0, SETTINGS, {
      nextOffset: 10,
      maxEventTime: T0,
      version: 5,
      rows: { pageMinutes: [{ partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 7, version: 5 }], overflow: [], visitors: [] },
    });
    expect(state.apply(9, pv(T0))).toBe('replayed');
    expect(state.apply(10, pv(T0))).toBe('counted');
    expect(views(state, 6)).toEqual([['/a', T0, 8]]);
  });

  it('leaves events for buckets behind the watermark to the batch layer', () => {
    const state = new PartitionState(0, SETTINGS);
    state.apply(0, pv(T0 + 10 * MIN));
    // watermark = T0+8min: the bucket [T0+7min, T0+8min) is closed, [T0+8min, ...) is open.
    expect(state.apply(1, pv(T0 + 7 * MIN + 59_999))).toBe('late');
    expect(state.apply(2, pv(T0 + 8 * MIN))).toBe('counted');
    expect(state.nextOffset).toBe(3);
  });

  it('forgets closed buckets after a checkpoint, keeping open ones', () => {
    const state = new PartitionState(0, SETTINGS);
    state.apply(0, pv(T0));
    state.apply(1, pv(T0 + 10 * MIN));
    state.checkpointed(state.snapshot(1));
    expect(state.size).toBe(1);
  });

  it('a failed write marks the snapshot dirty again', () => {
    const state = new PartitionState(0, SETTINGS);
    state.apply(0, pv(T0));
    const snap = state.snapshot(1);
    state.restoreDirty(snap);
    const again = state.snapshot(2);
    expect(again.rows.pageMinutes).toHaveLength(1);
    expect(again.rows.visitors.length).toBeGreaterThan(0);
  });

  it('beyond the exact-key budget, views go to the minute overflow: exact total, Count-Min estimate, top pages', () => {
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

  it('keeps unique visitors per site-minute, site-hour and tracked page-hour as HyperLogLogs', () => {
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
    const a = new PartitionState(0, { ...SETTINGS, maxExactKeys: 3 });
    for (let i = 0; i < 50; i++) a.apply(i, pv(T0 + i * 100, `/p${i % 7}`, `v${i % 13}`));
    const snap = a.snapshot(1);
    a.checkpointed(snap);
    const b = new PartitionState(0, { ...SETTINGS, maxExactKeys: 3 }, { nextOffset: snap.nextOffset, maxEventTime: snap.maxEventTime, version: 1, rows: snap.rows });
    for (const s of [a, b]) for (let i = 50; i < 80; i++) s.apply(i, pv(T0 + i * 100, `/p${i % 7}`, `v${i % 13}`));
    const sa = a.snapshot(2).rows;
    const sb = b.snapshot(2).rows;
    expect(sb.pageMinutes).toEqual(sa.pageMinutes);
    expect(sb.overflow).toEqual(sa.overflow);
    expect(sb.visitors.sort((x, y) => x.hll.localeCompare(y.hll))).toEqual(sa.visitors.sort((x, y) => x.hll.localeCompare(y.hll)));
  });
});
