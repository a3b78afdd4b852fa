import { describe, expect, it } from 'vitest';
import type { PageView } from '../../shared/page-view.ts';
import { PartitionState } from '../../speed-layer/partition-state.ts';

const T0 = Date.UTC(2026, 0, 10, 12);
const MIN = 60_000;
let n = 0;
function pv(timestamp: number, pageId = '/a'): PageView {
  n += 1;
  return { schemaVersion: 1, eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, site: 'default', pageId, visitorId: 'v', timestamp };
}

describe('PartitionState', () => {
  it('counts views per page and minute, and snapshots only what changed', () => {
    const state = new PartitionState(0, 2 * MIN);
    expect(state.apply(0, pv(T0))).toBe('counted');
    expect(state.apply(1, pv(T0 + 59_999))).toBe('counted');
    expect(state.apply(2, pv(T0 + MIN, '/b'))).toBe('counted');
    const first = state.snapshot(1);
    expect(first.nextOffset).toBe(3);
    expect(first.rows.map((r) => [r.pageId, r.bucket, r.views]).sort()).toEqual([
      ['/a', T0, 2],
      ['/b', T0 + MIN, 1],
    ]);
    state.checkpointed(first);
    expect(state.hasChanges).toBe(false);
    state.apply(3, pv(T0 + MIN, '/b'));
    expect(state.snapshot(2).rows.map((r) => [r.pageId, r.views])).toEqual([['/b', 2]]);
  });

  it('skips records below the checkpointed offset (replay after a crash)', () => {
    const state = new PartitionState(0, 2 * MIN, { nextOffset: 10, maxEventTime: T0, version: 5, rows: [
      { partition: 0, site: 'default', pageId: '/a', bucket: T0, views: 7, version: 5 },
    ] });
    expect(state.apply(9, pv(T0))).toBe('replayed');
    expect(state.apply(10, pv(T0))).toBe('counted');
    expect(state.snapshot(6).rows[0]?.views).toBe(8);
  });

  it('leaves events for buckets behind the watermark to the batch layer', () => {
    const state = new PartitionState(0, 2 * MIN);
    state.apply(0, pv(T0 + 10 * MIN));
    // watermark = T0+8min: the bucket [T0+7min, T0+8min) is closed, [T0+8min, ...) is open.
    expect(state.apply(1, pv(T0 + 7 * MIN + 59_999))).toBe('late');
    expect(state.apply(2, pv(T0 + 8 * MIN))).toBe('counted');
    expect(state.nextOffset).toBe(3);
  });

  it('forgets closed buckets after a checkpoint, keeping open ones', () => {
    const state = new PartitionState(0, 2 * MIN);
    state.apply(0, pv(T0));
    state.apply(1, pv(T0 + 10 * MIN));
    state.checkpointed(state.snapshot(1));
    expect(state.size).toBe(1);
  });

  it('a failed write marks the snapshot dirty again', () => {
    const state = new PartitionState(0, 2 * MIN);
    state.apply(0, pv(T0));
    const snap = state.snapshot(1);
    state.restoreDirty(snap);
    expect(state.snapshot(2).rows).toHaveLength(1);
  });
});
