/**
 * The speed layer's dimension views (shared/core/dimensions.ts): every visit property of an event
 * is counted as a page of its dimension site, with the page views' overflow beyond the key budget.
 */
import { describe, expect, it } from 'vitest';
import type { PageView } from '../../shared/core/page-view.ts';
import { DIMENSION_PROPERTIES } from '../../shared/core/dimensions.ts';
import { HyperLogLog, SpaceSaving } from '../../shared/core/sketches/index.ts';
import { PartitionState, type SketchSettings } from '../../speed-layer/partition-state.ts';

const T0 = Date.UTC(2026, 0, 10, 12);
const settings = (over: Partial<SketchSettings> = {}): SketchSettings => ({
  hotWindowMs: 10 * 60_000,
  maxExactKeys: 10_000,
  cmsEpsilon: 0.01,
  cmsDelta: 0.01,
  topPagesCapacity: 10,
  hllPrecision: 14,
  now: () => T0,
  ...over,
});
let n = 0;
const event = (fields: Partial<PageView> = {}): PageView => {
  n += 1;
  return { schemaVersion: 2, eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, site: 'shop', pageId: '/', visitorId: `v${n % 7}`, timestamp: T0 + 1000, ...fields };
};

describe('dimension views in the speed layer', () => {
  it('counts each visit property of an event as a page of its dimension site, absent fields under their absent name', () => {
    const state = new PartitionState(0, settings());
    state.apply(0, event({ source: 'Google', country: 'DE', referrer: 'https://www.google.com/x' }));
    state.apply(1, event({ source: 'Google' }));
    const rows = state.snapshot(1).rows;
    const views = new Map(rows.pageMinutes.map((r) => [`${r.site} ${r.pageId}`, r.views]));
    expect(views.get('shop /')).toBe(2);
    expect(views.get('shop|visit:source Google')).toBe(2);
    expect(views.get('shop|visit:country DE')).toBe(1);
    expect(views.get('shop|visit:country (not set)')).toBe(1);
    expect(views.get('shop|visit:referrer google.com/x')).toBe(1);
    expect(views.get('shop|visit:referrer Direct / None')).toBe(1);
    // One row per property and value: 13 properties, all with one value but country and referrer (2).
    expect(rows.pageMinutes.filter((r) => r.site.startsWith('shop|'))).toHaveLength(DIMENSION_PROPERTIES.length + 2);
    // Visitors per value and hour; no site-level visitors for dimension sites.
    const sketches = rows.visitors.filter((r) => r.site.startsWith('shop|'));
    expect(sketches.every((r) => r.pageId !== '' && r.grain === 'hour')).toBe(true);
    expect(HyperLogLog.fromBase64(sketches.find((r) => r.site === 'shop|visit:source')!.hll).estimate()).toBeCloseTo(2, 0);
  });

  it('beyond the key budget, values overflow into the dimension site-minute Count-Min and top-K, as pages do; pages keep a key budget of their own', () => {
    // The first event's 13 values take the 13 dimension keys; new values overflow. Pages have 13 keys of their own.
    const state = new PartitionState(0, settings({ maxExactKeys: 13 }));
    for (let i = 0; i < 50; i++) state.apply(i, event({ country: i < 30 ? 'US' : `C${String.fromCharCode(65 + (i % 26))}` }));
    const rows = state.snapshot(1).rows;
    const exact = rows.pageMinutes.filter((r) => r.site === 'shop|visit:country');
    const overflow = rows.overflow.filter((r) => r.site === 'shop|visit:country');
    expect(exact.map((r) => [r.pageId, r.views])).toEqual([['US', 30]]);
    expect(overflow).toHaveLength(1);
    expect(overflow[0]!.total).toBe(20);
    const top = SpaceSaving.fromJSON<string>(JSON.parse(overflow[0]!.topPages) as unknown).top();
    expect(top.reduce((a, t) => a + t.count, 0)).toBe(20);
    // Many values did not take the pages' keys: 13 new pages are still counted exactly.
    for (let i = 0; i < 12; i++) state.apply(100 + i, event({ pageId: `/p${i}`, country: `X${String.fromCharCode(65 + i)}` }));
    const pages = state.snapshot(2).rows.pageMinutes.filter((r) => r.site === 'shop');
    expect(pages).toHaveLength(12);
    expect(state.size).toBe(26);
  });

  it('replaying records below the checkpoint re-adds the values\' visitors only (idempotent), never their views', () => {
    const events = Array.from({ length: 20 }, (_, i) => event({ source: i % 2 === 0 ? 'Google' : 'Bing', visitorId: `u${i}` }));
    const first = new PartitionState(0, settings());
    events.forEach((e, i) => first.apply(i, e));
    const written = first.snapshot(1, false); // views written, page and value sketches not yet
    expect(written.replayFrom).toBe(0);
    const restored = new PartitionState(0, settings(), undefined, { nextOffset: written.nextOffset, replayFrom: 0, maxEventTime: T0, version: 1, rows: written.rows, residentFrom: T0 - 10 * 60_000 });
    events.forEach((e, i) => expect(restored.apply(i, e)).toBe('replayed'));
    const rows = restored.snapshot(2).rows;
    expect(rows.pageMinutes).toHaveLength(0);
    const google = rows.visitors.find((r) => r.site === 'shop|visit:source' && r.pageId === 'Google')!;
    expect(Math.round(HyperLogLog.fromBase64(google.hll).estimate())).toBe(10);
  });

  it('with dimensions off, only the page views are kept', () => {
    const state = new PartitionState(0, settings({ dimensions: false }));
    state.apply(0, event({ source: 'Google' }));
    const rows = state.snapshot(1).rows;
    expect(rows.pageMinutes.map((r) => r.site)).toEqual(['shop']);
    expect(rows.visitors.every((r) => r.site === 'shop')).toBe(true);
  });
});
