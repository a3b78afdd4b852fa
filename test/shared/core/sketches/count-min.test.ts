import { describe, expect, it } from 'vitest';
import { isPlatformError } from '../../../../shared/core/errors.ts';
import { CountMinSketch, countMinDepth, countMinWidth } from '../../../../shared/core/sketches/count-min.ts';
import { checksum32, hash64, type Hash64 } from '../../../../shared/core/sketches/hash.ts';
import { mulberry32, ZipfSampler } from '../../../../shared/tools/traffic-generator.ts';

function expectCode(fn: () => unknown, code: 'PV_SKETCH_CORRUPT' | 'PV_SKETCH_INCOMPATIBLE', message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(isPlatformError(thrown, code), `expected ${code}, got ${String(thrown)}`).toBe(true);
  if (message !== undefined) expect((thrown as Error).message).toMatch(message);
}

function withChecksum(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, checksum32(out, out.length - 4), true);
  return out;
}

/** A stream of `n` keys: uniform over `keys` distinct keys, or Zipf(s) over them. */
function stream(seed: number, n: number, keys: number, skew: number | null): string[] {
  const random = mulberry32(seed);
  const zipf = skew === null ? null : new ZipfSampler(keys, skew);
  return Array.from({ length: n }, () => `page-${zipf === null ? Math.floor(random() * keys) : zipf.sample(random())}`);
}

function exactCounts(keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}

function sketchOf(keys: readonly string[], epsilon: number, delta: number): CountMinSketch {
  const sketch = new CountMinSketch(epsilon, delta);
  for (const k of keys) sketch.addString(k);
  return sketch;
}

describe('CountMinSketch shape', () => {
  it('has width ceil(e/ε) rounded up to a prime and depth ceil(ln(1/δ))', () => {
    expect(countMinWidth(0.001)).toBe(2719); // ceil(2718.28) is prime already
    expect(countMinWidth(0.01)).toBe(277); // ceil(271.83) = 272 → next prime 277
    expect(countMinDepth(0.01)).toBe(5);
    expect(countMinDepth(0.001)).toBe(7);
    expect(countMinDepth(0.5)).toBe(1);
    const sketch = new CountMinSketch();
    expect([sketch.epsilon, sketch.delta, sketch.width, sketch.depth]).toEqual([0.001, 0.01, 2719, 5]);
    for (const epsilon of [0.3, 0.05, 0.002, 0.0001]) {
      const w = countMinWidth(epsilon);
      expect(w).toBeGreaterThanOrEqual(Math.E / epsilon);
      for (let f = 2; f * f <= w; f++) expect(w % f).not.toBe(0);
    }
  });

  it('rejects ε or δ outside (0, 1) and counts that are not non-negative integers', () => {
    for (const [e, d] of [[0, 0.1], [1, 0.1], [0.1, 0], [0.1, 1], [Number.NaN, 0.1]] as const) {
      expect(() => new CountMinSketch(e, d)).toThrow(RangeError);
    }
    expect(() => new CountMinSketch(1e-300, 0.1)).toThrow(RangeError); // refused, not searched for a prime
    const sketch = new CountMinSketch(0.1, 0.1);
    for (const count of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => sketch.addString('x', count)).toThrow(RangeError);
  });
});

describe('CountMinSketch guarantees (property loop against exact counts)', () => {
  const cases: Array<[string, number | null]> = [
    ['uniform', null],
    ['zipf 0.8', 0.8],
    ['zipf 1.2', 1.2],
  ];

  it.each(cases)('%s streams: never underestimates, and overestimates by more than εN for at most δ of keys', (_, skew) => {
    // A deliberately small sketch so that collisions happen and the bound is exercised.
    const epsilon = 0.01;
    const delta = 0.1;
    for (const seed of [1, 2, 3, 4]) {
      const keys = stream(seed, 50_000, 5_000, skew);
      const exact = exactCounts(keys);
      const sketch = sketchOf(keys, epsilon, delta);
      expect(sketch.totalCount).toBe(keys.length);
      expect(sketch.errorBound()).toBe(Math.ceil((Math.E / sketch.width) * keys.length));
      expect(sketch.errorBound()).toBeLessThanOrEqual(Math.ceil(epsilon * keys.length));
      let over = 0;
      let checked = 0;
      let overcount = 0;
      const under: string[] = [];
      const check = (key: string, truth: number): void => {
        const estimate = sketch.estimateString(key);
        if (estimate < truth) under.push(`${key}: ${estimate} < ${truth}`);
        if (estimate - truth > sketch.errorBound()) over++;
        overcount += estimate - truth;
        checked++;
      };
      for (const [key, truth] of exact) check(key, truth);
      for (let i = 0; i < 1_000; i++) check(`absent-${seed}-${i}`, 0);
      expect(under, 'never underestimates').toEqual([]);
      expect(over / checked, `seed ${seed}`).toBeLessThanOrEqual(delta);
      // The analysis behind the bound: a row's expected overcount is at most N / w.
      expect(overcount / checked).toBeLessThanOrEqual(keys.length / sketch.width);
    }
  });

  it('is exact for weighted adds: add(k, c) equals c adds of k', () => {
    const a = new CountMinSketch(0.05, 0.05);
    const b = new CountMinSketch(0.05, 0.05);
    const random = mulberry32(5);
    for (let i = 0; i < 500; i++) {
      const key = `k${Math.floor(random() * 50)}`;
      const count = Math.floor(random() * 5);
      a.addString(key, count);
      for (let j = 0; j < count; j++) b.addString(key);
    }
    expect(a.equals(b)).toBe(true);
  });
});

describe('CountMinSketch merge', () => {
  it('of sketches of parts of a stream equals the sketch of the whole stream, exactly', () => {
    for (const seed of [1, 2, 3]) {
      const keys = stream(seed, 20_000, 2_000, 1.0);
      const random = mulberry32(seed);
      const parts: string[][] = [[], [], []];
      for (const k of keys) parts[Math.floor(random() * 3)]!.push(k);
      const [a, b, c] = parts.map((p) => sketchOf(p, 0.01, 0.01));
      const whole = sketchOf(keys, 0.01, 0.01);
      expect(a!.clone().merge(b!).merge(c!).equals(whole)).toBe(true);
      expect(c!.clone().merge(a!).merge(b!).equals(whole)).toBe(true); // any order
      expect(a!.clone().merge(b!.clone().merge(c!)).equals(whole)).toBe(true); // any grouping
      expect(whole.clone().merge(new CountMinSketch(0.01, 0.01)).equals(whole)).toBe(true);
    }
  });

  it('with itself doubles every count', () => {
    const sketch = sketchOf(stream(1, 1_000, 100, null), 0.01, 0.1);
    const doubled = sketchOf([...stream(1, 1_000, 100, null), ...stream(1, 1_000, 100, null)], 0.01, 0.1);
    expect(sketch.merge(sketch).equals(doubled)).toBe(true);
  });

  it('rejects a sketch of another shape', () => {
    expectCode(() => new CountMinSketch(0.01, 0.01).merge(new CountMinSketch(0.001, 0.01)), 'PV_SKETCH_INCOMPATIBLE');
    expectCode(() => new CountMinSketch(0.01, 0.01).merge(new CountMinSketch(0.01, 0.001)), 'PV_SKETCH_INCOMPATIBLE');
  });
});

describe('CountMinSketch cells', () => {
  it('cellIndexes are the counters whose minimum is the estimate', () => {
    const sketch = sketchOf(stream(3, 5_000, 500, 1.0), 0.01, 0.01);
    const cells = sketch.cells();
    const h: Hash64 = { hi: 0, lo: 0 };
    for (let i = 0; i < 500; i++) {
      hash64(`page-${i}`, h);
      const indexes = sketch.cellIndexes(h.hi, h.lo);
      expect(indexes).toHaveLength(sketch.depth);
      indexes.forEach((index, row) => expect(Math.floor(index / sketch.width)).toBe(row));
      expect(Math.min(...indexes.map((index) => cells[index]!))).toBe(sketch.estimate(h.hi, h.lo));
    }
  });

  it('column of row i is (lo + i·hi) mod width, without 32-bit wrap-around', () => {
    const sketch = new CountMinSketch(0.01, 0.01);
    const hi = 0xfffffff0;
    const lo = 0xfffffffe;
    const expected = Array.from({ length: sketch.depth }, (_, i) => i * sketch.width + Number((BigInt(lo) + BigInt(i) * BigInt(hi)) % BigInt(sketch.width)));
    expect(sketch.cellIndexes(hi, lo)).toEqual(expected);
    expect(sketch.cellIndexes(hi | 0, lo | 0)).toEqual(expected); // signed halves mean the same hash
  });

  it('fromCells(width, depth, cells()) rebuilds the sketch; inconsistent cells are rejected', () => {
    const sketch = sketchOf(stream(4, 3_000, 300, 0.9), 0.01, 0.05);
    const copy = CountMinSketch.fromCells(sketch.width, sketch.depth, Array.from(sketch.cells()));
    expect(copy.equals(sketch)).toBe(true);
    expect(copy.totalCount).toBe(3_000);
    expect(copy.epsilon).toBeCloseTo(Math.E / sketch.width, 12);
    expect(copy.clone().merge(sketch).totalCount).toBe(6_000);
    const cells = Array.from(sketch.cells());
    cells[0]! += 1; // row 0 no longer sums like the others
    expectCode(() => CountMinSketch.fromCells(sketch.width, sketch.depth, cells), 'PV_SKETCH_CORRUPT', /row/);
    expectCode(() => CountMinSketch.fromCells(sketch.width, sketch.depth, cells.slice(1)), 'PV_SKETCH_CORRUPT');
    expectCode(() => CountMinSketch.fromCells(2, 1, [1, -1]), 'PV_SKETCH_CORRUPT');
    expectCode(() => CountMinSketch.fromCells(2, 1, [1.5, 0]), 'PV_SKETCH_CORRUPT');
    expectCode(() => CountMinSketch.fromCells(0, 1, []), 'PV_SKETCH_CORRUPT');
  });

  it('reports its memory: ε = 0.001, δ = 0.01 holds 5 × 2719 8-byte counters', () => {
    expect(new CountMinSketch().memoryBytes).toBeGreaterThanOrEqual(5 * 2719 * 8);
  });
});

describe('CountMinSketch serialization', () => {
  it('round-trips exactly, also through base64', () => {
    for (const [epsilon, delta] of [[0.001, 0.01], [0.01, 0.1], [0.3, 0.9]] as const) {
      const sketch = sketchOf(stream(7, 10_000, 1_000, 1.0), epsilon, delta);
      sketch.addString('big', 2 ** 40); // multi-byte varints
      const copy = CountMinSketch.deserialize(sketch.serialize());
      expect(copy.equals(sketch)).toBe(true);
      expect([copy.epsilon, copy.delta, copy.totalCount]).toEqual([epsilon, delta, sketch.totalCount]);
      expect(Buffer.from(copy.serialize()).equals(Buffer.from(sketch.serialize()))).toBe(true);
      expect(CountMinSketch.fromBase64(sketch.toBase64()).equals(sketch)).toBe(true);
    }
    expect(CountMinSketch.deserialize(new CountMinSketch().serialize()).totalCount).toBe(0);
  });

  const bytes = sketchOf(stream(8, 2_000, 100, 1.0), 0.1, 0.2).serialize();

  it('rejects every single-byte corruption and every truncation', () => {
    for (let pos = 0; pos < bytes.length; pos++) {
      const bad = bytes.slice();
      bad[pos]! ^= 0x10;
      expectCode(() => CountMinSketch.deserialize(bad), 'PV_SKETCH_CORRUPT');
    }
    for (let len = 0; len < bytes.length; len++) expectCode(() => CountMinSketch.deserialize(bytes.subarray(0, len)), 'PV_SKETCH_CORRUPT');
  });

  it('rejects a wrong version, magic or shape, and counters that do not add up, even with a valid checksum', () => {
    const edit = (change: (b: Uint8Array, view: DataView) => void): Uint8Array => {
      const out = bytes.slice();
      change(out, new DataView(out.buffer));
      return withChecksum(out);
    };
    expectCode(() => CountMinSketch.deserialize(edit((b) => (b[1] = 2))), 'PV_SKETCH_CORRUPT', /version 2/);
    expectCode(() => CountMinSketch.deserialize(edit((b) => (b[0] = 0x48))), 'PV_SKETCH_CORRUPT', /magic/);
    expectCode(() => CountMinSketch.deserialize(edit((_, v) => v.setUint32(18, 30, true))), 'PV_SKETCH_CORRUPT', /shape/);
    expectCode(() => CountMinSketch.deserialize(edit((_, v) => v.setFloat64(2, 1.5, true))), 'PV_SKETCH_CORRUPT');
    expectCode(() => CountMinSketch.deserialize(edit((_, v) => v.setFloat64(26, 1999, true))), 'PV_SKETCH_CORRUPT', /row 0/);
    expectCode(() => CountMinSketch.deserialize(edit((_, v) => v.setFloat64(26, 0.5, true))), 'PV_SKETCH_CORRUPT', /total/);
  });

  it('never throws anything but PV_SKETCH_CORRUPT on random input', () => {
    const random = mulberry32(13);
    for (let trial = 0; trial < 1_000; trial++) {
      const candidate = bytes.slice(0, Math.floor(random() * bytes.length));
      for (let k = 0; k < 3; k++) if (candidate.length > 0) candidate[Math.floor(random() * candidate.length)] = Math.floor(random() * 256);
      try {
        CountMinSketch.deserialize(trial % 2 === 0 && candidate.length >= 8 ? withChecksum(candidate) : candidate);
      } catch (err) {
        expect(isPlatformError(err, 'PV_SKETCH_CORRUPT'), String(err)).toBe(true);
      }
    }
    expectCode(() => CountMinSketch.deserialize('x' as unknown as Uint8Array), 'PV_SKETCH_CORRUPT');
    expectCode(() => CountMinSketch.fromBase64('not base64!'), 'PV_SKETCH_CORRUPT');
  });
});
