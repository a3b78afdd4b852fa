import { describe, expect, it } from 'vitest';
import { validatePageView } from '../../../shared/core/page-view.ts';
import { TrafficGenerator, ZipfSampler, mulberry32 } from '../../../shared/tools/traffic-generator.ts';

describe('TrafficGenerator', () => {
  it('is deterministic for a seed and different across seeds', () => {
    const a = new TrafficGenerator({ seed: 7 });
    const b = new TrafficGenerator({ seed: 7 });
    const c = new TrafficGenerator({ seed: 8 });
    const ea = Array.from({ length: 50 }, () => a.next(1_800_000_000_000));
    expect(Array.from({ length: 50 }, () => b.next(1_800_000_000_000))).toEqual(ea);
    expect(Array.from({ length: 50 }, () => c.next(1_800_000_000_000))).not.toEqual(ea);
  });

  it('produces valid events with unique ids', () => {
    const g = new TrafficGenerator({ seed: 1, pages: 10, visitors: 100 });
    const events = Array.from({ length: 2000 }, () => g.next(1_800_000_000_000));
    for (const e of events) expect(validatePageView(e)).toEqual({ ok: true, event: e });
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    expect(new Set(events.map((e) => e.pageId)).size).toBeLessThanOrEqual(10);
  });

  it('with visit fields: valid v2 events, the same fields at each event of a visitor, the same events otherwise', () => {
    const plain = new TrafficGenerator({ seed: 5, pages: 50, visitors: 200 });
    const rich = new TrafficGenerator({ seed: 5, pages: 50, visitors: 200, visitFields: true });
    const byVisitor = new Map<string, string>();
    const devices = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const p = plain.next(1_800_000_000_000);
      const r = rich.next(1_800_000_000_000);
      expect(validatePageView(r)).toEqual({ ok: true, event: r });
      expect(p.schemaVersion).toBe(1);
      expect(r).toMatchObject({ ...p, schemaVersion: 2 });
      const { eventId: _e, pageId: _p, timestamp: _t, ...visit } = r;
      const key = JSON.stringify(visit);
      expect(byVisitor.get(r.visitorId) ?? key).toBe(key);
      byVisitor.set(r.visitorId, key);
      devices.add(String(r.device));
    }
    expect([...devices].sort()).toEqual(['Desktop', 'Laptop', 'Mobile', 'Tablet']);
  });

  it('makes popular pages popular (Zipf) and visitors return', () => {
    const g = new TrafficGenerator({ seed: 3, pages: 1000, visitors: 1000 });
    const pages = new Map<string, number>();
    const visitors = new Set<string>();
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const e = g.next(1_800_000_000_000);
      pages.set(e.pageId, (pages.get(e.pageId) ?? 0) + 1);
      visitors.add(e.visitorId);
    }
    const top = Math.max(...pages.values());
    // Zipf s=1 over 1000 pages: the top page has ~1/H(1000) ≈ 13% of views.
    expect(top / N).toBeGreaterThan(0.1);
    expect(top / N).toBeLessThan(0.17);
    expect(visitors.size).toBeLessThan(N / 2);
  });
});

describe('ZipfSampler', () => {
  it('with s=0 is uniform', () => {
    const z = new ZipfSampler(4, 0);
    const random = mulberry32(9);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[z.sample(random())]! += 1;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });
});
