import { describe, expect, it } from 'vitest';
import { isPlatformError } from '../../../../shared/core/errors.ts';
import { SpaceSaving } from '../../../../shared/core/sketches/space-saving.ts';
import { mulberry32, ZipfSampler } from '../../../../shared/tools/traffic-generator.ts';

function zipfStream(seed: number, n: number, keys: number, skew: number): string[] {
  const random = mulberry32(seed);
  const zipf = new ZipfSampler(keys, skew);
  return Array.from({ length: n }, () => `/page/${zipf.sample(random())}`);
}

function exactCounts(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}

function summaryOf(keys: readonly string[], capacity: number): SpaceSaving {
  const summary = new SpaceSaving(capacity);
  for (const k of keys) summary.add(k);
  return summary;
}

/** Checks the Space-Saving guarantees of `summary` against the exact counts of its stream. */
function expectGuarantees(summary: SpaceSaving, exact: Map<string, number>, label: string): void {
  const n = [...exact.values()].reduce((a, b) => a + b, 0);
  const k = summary.capacity;
  expect(summary.totalCount, label).toBe(n);
  expect(summary.size, label).toBeLessThanOrEqual(k);
  expect(summary.minCount, label).toBeLessThanOrEqual(n / k);
  // Violations are collected and asserted once (an expect per key would dominate the run time).
  const violations: string[] = [];
  const reported = new Map(summary.top().map((item) => [item.key, item]));
  for (const item of reported.values()) {
    const truth = exact.get(item.key) ?? 0;
    if (!(item.count - item.error <= truth && truth <= item.count)) {
      violations.push(`${item.key}: true ${truth} outside [${item.count - item.error}, ${item.count}]`);
    }
  }
  for (const [key, truth] of exact) {
    if (truth > n / k && !reported.has(key)) violations.push(`heavy hitter ${key} (${truth} > N/k = ${n / k}) not reported`);
    if (!reported.has(key) && truth > summary.minCount) violations.push(`unmonitored ${key} has ${truth} > minCount ${summary.minCount}`);
  }
  expect(violations, label).toEqual([]);
}

describe('SpaceSaving guarantees (property loop against exact counts)', () => {
  it('on Zipf streams: every key above N/k is reported, and count − error ≤ true ≤ count', () => {
    for (const seed of [1, 2, 3]) {
      for (const skew of [0.6, 1.0, 1.4]) {
        for (const k of [10, 100]) {
          const keys = zipfStream(seed, 30_000, 5_000, skew);
          expectGuarantees(summaryOf(keys, k), exactCounts(keys), `seed ${seed} s ${skew} k ${k}`);
        }
      }
    }
  });

  it('on uniform and adversarial (ascending, then a late heavy key) streams', () => {
    const random = mulberry32(9);
    const uniform = Array.from({ length: 20_000 }, () => `u${Math.floor(random() * 300)}`);
    expectGuarantees(summaryOf(uniform, 50), exactCounts(uniform), 'uniform');
    const adversarial = [...Array.from({ length: 5_000 }, (_, i) => `once-${i}`), ...Array.from({ length: 2_000 }, () => 'late')];
    const summary = summaryOf(adversarial, 20);
    expectGuarantees(summary, exactCounts(adversarial), 'adversarial');
    expect(summary.top(1)[0]?.key).toBe('late');
  });

  it('is exact while fewer than k distinct keys were seen', () => {
    const keys = zipfStream(4, 5_000, 40, 1.0);
    const exact = exactCounts(keys);
    const summary = summaryOf(keys, 50);
    expect(summary.size).toBe(exact.size);
    expect(summary.minCount).toBe(0);
    for (const item of summary.top()) {
      expect(item.error).toBe(0);
      expect(item.count).toBe(exact.get(item.key));
    }
  });

  it('guaranteed heavy hitters (count − error > threshold) really are above the threshold', () => {
    const keys = zipfStream(5, 50_000, 10_000, 1.1);
    const exact = exactCounts(keys);
    const summary = summaryOf(keys, 100);
    const threshold = 0.005 * keys.length;
    const guaranteed = summary.top().filter((item) => item.count - item.error > threshold);
    expect(guaranteed.length).toBeGreaterThan(0);
    for (const item of guaranteed) expect(exact.get(item.key)!).toBeGreaterThan(threshold);
  });

  it('weighted adds keep the guarantees', () => {
    const random = mulberry32(6);
    const zipf = new ZipfSampler(2_000, 1.0);
    const exact = new Map<string, number>();
    const summary = new SpaceSaving(40);
    for (let i = 0; i < 10_000; i++) {
      const key = `k${zipf.sample(random())}`;
      const count = 1 + Math.floor(random() * 5);
      summary.add(key, count);
      exact.set(key, (exact.get(key) ?? 0) + count);
    }
    expectGuarantees(summary, exact, 'weighted');
  });

  it('top(n) is ordered by count and returns at most n items; numeric keys work', () => {
    const summary = new SpaceSaving<number>(5);
    for (const [key, count] of [[1, 5], [2, 9], [3, 1], [4, 7]] as const) summary.add(key, count);
    expect(summary.top(2)).toEqual([
      { key: 2, count: 9, error: 0 },
      { key: 4, count: 7, error: 0 },
    ]);
    expect(summary.top()).toHaveLength(4);
    expect(summary.top(0)).toEqual([]);
    expect(summary.get(3)).toEqual({ key: 3, count: 1, error: 0 });
    expect(summary.get(99)).toBeUndefined();
  });

  it('rejects a bad capacity or count', () => {
    for (const capacity of [0, -1, 1.5]) expect(() => new SpaceSaving(capacity)).toThrow(RangeError);
    expect(() => new SpaceSaving(3).add('x', -1)).toThrow(RangeError);
    expect(() => new SpaceSaving(3).add('x', 0.5)).toThrow(RangeError);
  });
});

describe('SpaceSaving merge', () => {
  it('of summaries of parts of a Zipf stream keeps the guarantees for the whole stream', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const keys = zipfStream(seed, 30_000, 5_000, 0.9 + seed / 10);
      const random = mulberry32(seed);
      const parts = Math.floor(2 + random() * 4);
      const streams: string[][] = Array.from({ length: parts }, () => []);
      // Uneven split: part i gets weight i + 1, so some summaries are full and some are not.
      for (const k of keys) streams[Math.floor(Math.sqrt(random() * parts * parts))]!.push(k);
      const summaries = streams.map((s) => summaryOf(s, 50));
      const sequential = summaries.reduce((acc, s) => acc.merge(s), new SpaceSaving(50));
      expectGuarantees(sequential, exactCounts(keys), `seed ${seed} sequential`);
      // Tree-shaped merge of fresh copies.
      let level = streams.map((s) => summaryOf(s, 50));
      while (level.length > 1) {
        const next: SpaceSaving[] = [];
        for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? level[i]!.merge(level[i + 1]!) : level[i]!);
        level = next;
      }
      expectGuarantees(level[0]!, exactCounts(keys), `seed ${seed} tree`);
    }
  });

  it('is commutative', () => {
    const a = summaryOf(zipfStream(1, 5_000, 1_000, 1.0), 30);
    const b = summaryOf(zipfStream(2, 8_000, 1_000, 1.2), 30);
    expect(a.clone().merge(b).toJSON()).toEqual(b.clone().merge(a).toJSON());
  });

  it('with a small summary that is not full stays exact for keys it saw', () => {
    const big = summaryOf(zipfStream(3, 10_000, 2_000, 1.0), 20);
    const small = summaryOf(['x', 'x', 'y'], 20);
    const keys = [...zipfStream(3, 10_000, 2_000, 1.0), 'x', 'x', 'y'];
    expectGuarantees(big.merge(small), exactCounts(keys), 'big + small');
  });

  it('rejects a summary of another capacity', () => {
    let thrown: unknown;
    try {
      new SpaceSaving(10).merge(new SpaceSaving(20));
    } catch (err) {
      thrown = err;
    }
    expect(isPlatformError(thrown, 'PV_SKETCH_INCOMPATIBLE')).toBe(true);
  });
});

describe('SpaceSaving JSON', () => {
  it('round-trips through JSON.stringify and fromJSON', () => {
    const summary = summaryOf(zipfStream(7, 10_000, 1_000, 1.0), 25);
    const json = JSON.parse(JSON.stringify(summary.toJSON())) as unknown;
    const copy = SpaceSaving.fromJSON(json);
    expect(copy.toJSON()).toEqual(summary.toJSON());
    expect(copy.capacity).toBe(25);
    expect(copy.totalCount).toBe(10_000);
    expect(summary.toJSON().items[0]).toEqual([summary.top(1)[0]!.key, summary.top(1)[0]!.count, summary.top(1)[0]!.error]);
  });

  it('a restored summary continues exactly as the original (deterministic replacement)', () => {
    const keys = zipfStream(8, 20_000, 3_000, 0.9);
    const original = summaryOf(keys.slice(0, 7_000), 40);
    const restored = SpaceSaving.fromJSON(JSON.parse(JSON.stringify(original.toJSON())) as unknown);
    for (const k of keys.slice(7_000)) {
      original.add(k);
      restored.add(k);
    }
    expect(restored.toJSON()).toEqual(original.toJSON());
    expectGuarantees(restored, exactCounts(keys), 'restored');
  });

  it('rejects malformed input with PV_SKETCH_CORRUPT', () => {
    const good = summaryOf(['a', 'b', 'a'], 2).toJSON();
    const bad: unknown[] = [
      null,
      [],
      'x',
      { ...good, version: 2 },
      { ...good, capacity: 0 },
      { ...good, capacity: 1 },
      { ...good, totalCount: -1 },
      { ...good, totalCount: 2 },
      { ...good, items: 'no' },
      { ...good, items: [['a', 2]] },
      { ...good, items: [['a', 2, 3]] },
      { ...good, items: [['a', 0, 0]] },
      { ...good, items: [['a', 1.5, 0]] },
      { ...good, items: [[null, 1, 0]] },
      { ...good, items: [['a', 1, 0], ['a', 1, 0]] },
    ];
    for (const value of bad) {
      let thrown: unknown;
      try {
        SpaceSaving.fromJSON(value);
      } catch (err) {
        thrown = err;
      }
      expect(isPlatformError(thrown, 'PV_SKETCH_CORRUPT'), JSON.stringify(value)).toBe(true);
    }
  });
});
