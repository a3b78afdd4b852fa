import { describe, expect, it } from 'vitest';
import { isPlatformError, type ErrorCode } from '../../../../shared/core/errors.ts';
import { checksum32 } from '../../../../shared/core/sketches/hash.ts';
import { HyperLogLog, unionOfEncoded } from '../../../../shared/core/sketches/hyperloglog.ts';
import { mulberry32, ZipfSampler } from '../../../../shared/tools/traffic-generator.ts';

/** A stream of uniformly random 64-bit hashes (as halves) from a seeded PRNG. */
function hashStream(seed: number): () => [number, number] {
  const random = mulberry32(seed);
  return () => [random() * 4294967296, random() * 4294967296];
}

function sketchOf(hashes: ReadonlyArray<readonly [number, number]>, precision = 12): HyperLogLog {
  const sketch = new HyperLogLog(precision);
  for (const [hi, lo] of hashes) sketch.add(hi, lo);
  return sketch;
}

function distinctHashes(seed: number, n: number): Array<[number, number]> {
  const next = hashStream(seed);
  return Array.from({ length: n }, next);
}

function expectPlatformError(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(isPlatformError(thrown, code), `expected ${code}, got ${String(thrown)}`).toBe(true);
  if (message !== undefined) expect((thrown as Error).message).toMatch(message);
}

function expectCorrupt(fn: () => unknown, message?: RegExp): void {
  expectPlatformError(fn, 'PV_SKETCH_CORRUPT', message);
}

/** Byte equality (vitest's deep equality is slow on large typed arrays). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Rewrites the trailing checksum so that only the structural checks can catch a change. */
function withChecksum(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(out.length - 4, checksum32(out, out.length - 4), true);
  return out;
}

/** The documented dense encoding of `registers`, built by hand from the format description. */
function denseBytes(precision: number, registers: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + (registers.length / 4) * 3 + 4);
  out.set([0x48, 1, precision, 1]);
  for (let j = 0; j < registers.length / 4; j++) {
    let group = 0;
    for (let k = 0; k < 4; k++) group += registers[4 * j + k]! * 2 ** (6 * k);
    out[4 + 3 * j] = group & 0xff;
    out[5 + 3 * j] = (group >>> 8) & 0xff;
    out[6 + 3 * j] = group >>> 16;
  }
  return withChecksum(out);
}

describe('HyperLogLog accuracy', () => {
  it('estimates 0..100k distinct strings within 3σ for several seeds (p = 14)', () => {
    for (const seed of [1, 2, 3]) {
      for (const n of [0, 1, 10, 100, 1_000, 10_000, 100_000]) {
        const sketch = new HyperLogLog(14);
        for (let i = 0; i < n; i++) sketch.addString(`s${seed}-visitor-${i}`);
        const bound = 3 * sketch.relativeStandardError * n;
        expect(Math.abs(sketch.estimate() - n), `seed ${seed} n ${n} estimate ${sketch.estimate()}`).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('estimates 1M distinct strings within 3σ (p = 14)', () => {
    const sketch = new HyperLogLog();
    for (let i = 0; i < 1_000_000; i++) sketch.addString(`visitor-${i}`);
    expect(Math.abs(sketch.estimate() - 1_000_000)).toBeLessThanOrEqual(3 * sketch.relativeStandardError * 1_000_000);
  });

  it('counts duplicates once: a Zipf stream estimates its number of distinct keys', () => {
    for (const seed of [5, 6]) {
      const random = mulberry32(seed);
      const zipf = new ZipfSampler(50_000, 1.1);
      const exact = new Set<number>();
      const sketch = new HyperLogLog(14);
      for (let i = 0; i < 200_000; i++) {
        const key = zipf.sample(random());
        exact.add(key);
        sketch.addString(`visitor-${key}`);
      }
      expect(Math.abs(sketch.estimate() - exact.size)).toBeLessThanOrEqual(3 * sketch.relativeStandardError * exact.size);
    }
  });

  it('has a root-mean-square relative error close to 1.04/√m over many trials, and no bias', () => {
    const precision = 10;
    const sigma = new HyperLogLog(precision).relativeStandardError;
    expect(sigma).toBeCloseTo(1.04 / 32, 12);
    const trials = 200;
    for (const n of [100, 1_000, 10_000, 50_000]) {
      let sumSquares = 0;
      let sum = 0;
      for (let t = 0; t < trials; t++) {
        const next = hashStream(1_000_003 * n + t);
        const sketch = new HyperLogLog(precision);
        for (let i = 0; i < n; i++) {
          const [hi, lo] = next();
          sketch.add(hi, lo);
        }
        const relative = (sketch.estimate() - n) / n;
        sumSquares += relative * relative;
        sum += relative;
      }
      const rmse = Math.sqrt(sumSquares / trials);
      expect(rmse, `n ${n}`).toBeLessThanOrEqual(1.3 * sigma);
      // Far above the small range the estimator's error is σ itself, not less.
      if (n >= 10 * 2 ** precision) expect(rmse, `n ${n}`).toBeGreaterThanOrEqual(0.8 * sigma);
      expect(Math.abs(sum / trials), `bias at n ${n}`).toBeLessThanOrEqual((4 * sigma) / Math.sqrt(trials));
    }
  });

  it('is 0 for an empty sketch and about 1 for one element, at every precision', () => {
    for (let p = 4; p <= 18; p++) {
      const sketch = new HyperLogLog(p);
      expect(sketch.estimate()).toBe(0);
      sketch.addString('only');
      expect(sketch.estimate()).toBeCloseTo(1, 1);
    }
  });

  it('gives the extreme hashes the extreme ranks', () => {
    const sketch = new HyperLogLog(4);
    sketch.add(0x0fffffff, 0); // index 0, rank 1
    sketch.add(0x10000000, 0); // index 1, then 28 + 32 zero bits: rank 61 = 65 - p
    sketch.add(0x20000000, 1); // index 2, 28 + 31 zero bits: rank 60
    const registers = sketch.registers();
    expect([registers[0], registers[1], registers[2]]).toEqual([1, 61, 60]);
  });
});

describe('HyperLogLog sparse and dense representations', () => {
  it('keeps a few visitors in tens of bytes', () => {
    const sketch = new HyperLogLog(14);
    for (const v of ['alice', 'bob', 'carol']) sketch.addString(v);
    expect(sketch.isSparse).toBe(true);
    expect(sketch.serialize().length).toBeLessThan(30);
    // A 4-slot plain array (see hyperloglog-tiers.test.ts); the rest of the estimate is V8's object.
    expect(sketch.memoryBytes).toBeLessThan(200);
    const dense = new HyperLogLog(14);
    for (let i = 0; i < 10_000; i++) dense.addString(`v${i}`);
    expect(dense.memoryBytes / sketch.memoryBytes).toBeGreaterThan(40);
    const empty = new HyperLogLog(14);
    expect(empty.serialize().length).toBe(12);
  });

  it('turns dense when the sparse entries would outgrow the registers, with identical estimates', () => {
    const precision = 10;
    const m = 2 ** precision;
    const maxSparse = (3 * m) / 16; // a table of at most m/4 slots (the dense size), at most 3/4 full
    const next = hashStream(42);
    const sketch = new HyperLogLog(precision);
    let sawSparse = false;
    for (let i = 0; i < 3 * m; i++) {
      const [hi, lo] = next();
      sketch.add(hi, lo);
      const registers = sketch.registers();
      const nonZero = registers.reduce((count, r) => count + (r > 0 ? 1 : 0), 0);
      expect(sketch.isSparse).toBe(nonZero <= maxSparse);
      if (sketch.isSparse) sawSparse = true;
      if (i % 37 === 0 || Math.abs(nonZero - maxSparse) <= 2) {
        const dense = HyperLogLog.deserialize(denseBytes(precision, registers));
        expect(dense.isSparse).toBe(false);
        expect(sketch.estimate()).toBe(dense.estimate());
        expect(dense.equals(sketch)).toBe(true);
      }
    }
    expect(sawSparse).toBe(true);
    expect(sketch.isSparse).toBe(false);
    expect(sketch.memoryBytes).toBeGreaterThanOrEqual(m);
  });

  it('add returns whether a register changed', () => {
    const sketch = new HyperLogLog(12);
    expect(sketch.addString('x')).toBe(true);
    expect(sketch.addString('x')).toBe(false);
    for (let i = 0; i < 5000; i++) sketch.addString(`v${i}`);
    expect(sketch.isSparse).toBe(false);
    expect(sketch.addString('x')).toBe(false);
  });
});

describe('HyperLogLog merge', () => {
  const sizes: Array<[number, number]> = [
    [0, 0],
    [0, 50],
    [100, 100], // sparse + sparse stays sparse
    [500, 500], // sparse + sparse becomes dense
    [100, 20_000], // sparse + dense
    [20_000, 100], // dense + sparse
    [20_000, 30_000], // dense + dense
  ];

  it.each(sizes)('of disjoint sets of %i and %i equals the sketch of the union, register for register', (a, b) => {
    const hashes = distinctHashes(a * 31 + b, a + b);
    const left = sketchOf(hashes.slice(0, a));
    const right = sketchOf(hashes.slice(a));
    const union = sketchOf(hashes);
    const merged = left.clone().merge(right);
    expect(merged.equals(union)).toBe(true);
    expect(merged.isSparse).toBe(union.isSparse);
    expect(sameBytes(merged.serialize(), union.serialize())).toBe(true);
    expect(Math.abs(merged.estimate() - (a + b))).toBeLessThanOrEqual(3 * merged.relativeStandardError * (a + b));
  });

  it('of overlapping sets equals the union exactly and estimates the exact union (property loop)', () => {
    for (let seed = 0; seed < 25; seed++) {
      const random = mulberry32(seed);
      const pool = distinctHashes(1000 + seed, 1 + Math.floor(random() * 40_000));
      const pick = (): Array<[number, number]> => pool.filter(() => random() < 0.5);
      const a = pick();
      const b = pick();
      const exact = new Set([...a, ...b].map(([hi, lo]) => `${hi}:${lo}`));
      const merged = sketchOf(a).merge(sketchOf(b));
      expect(merged.equals(sketchOf([...b, ...a])), `seed ${seed}`).toBe(true);
      expect(Math.abs(merged.estimate() - exact.size)).toBeLessThanOrEqual(3 * merged.relativeStandardError * exact.size);
    }
  });

  it('is commutative, associative and idempotent', () => {
    for (let seed = 0; seed < 10; seed++) {
      const random = mulberry32(seed);
      const [a, b, c] = [0, 1, 2].map((k) => sketchOf(distinctHashes(seed * 3 + k, Math.floor(random() * 5000))));
      expect(a!.clone().merge(b!).equals(b!.clone().merge(a!))).toBe(true);
      const left = a!.clone().merge(b!).merge(c!);
      const right = a!.clone().merge(b!.clone().merge(c!));
      expect(left.equals(right)).toBe(true);
      expect(a!.clone().merge(a!).equals(a!)).toBe(true);
      const self = a!.clone();
      expect(self.merge(self).equals(a!)).toBe(true);
      expect(HyperLogLog.union([a!, b!, c!], 12).equals(left)).toBe(true);
    }
  });

  it('rejects a sketch of another precision with PV_SKETCH_INCOMPATIBLE naming both precisions (sketches are never folded)', () => {
    for (const [mine, theirs] of [
      [14, 12],
      [12, 14],
    ] as const) {
      const sketch = sketchOf(distinctHashes(mine, 100), mine);
      const other = sketchOf(distinctHashes(theirs, 100), theirs);
      const before = sketch.clone();
      const bothPrecisions = new RegExp(`precision ${theirs}\\b.*precision ${mine}\\b`);
      expectPlatformError(() => sketch.merge(other), 'PV_SKETCH_INCOMPATIBLE', bothPrecisions);
      expectPlatformError(() => unionOfEncoded([other.toBase64()], mine), 'PV_SKETCH_INCOMPATIBLE', bothPrecisions);
      expect(sketch.equals(before)).toBe(true);
    }
  });

  it('rejects a precision outside 4..18 at construction', () => {
    for (const p of [3, 19, 14.5, Number.NaN]) expect(() => new HyperLogLog(p)).toThrow(RangeError);
  });
});

describe('uniques are unions, not sums (the classic Lambda mistake)', () => {
  it("summing hourly unique-visitor estimates overcounts a day's visitors; the union of the hourly sketches does not", () => {
    // 24 hourly buckets of returning visitors: the same people come back hour after hour.
    const random = mulberry32(2024);
    const visitors = new ZipfSampler(5_000, 0.8);
    const hourly: HyperLogLog[] = [];
    const day = new Set<number>();
    for (let hour = 0; hour < 24; hour++) {
      const sketch = new HyperLogLog(14);
      for (let event = 0; event < 2_000; event++) {
        const visitor = visitors.sample(random());
        day.add(visitor);
        sketch.addString(`visitor-${visitor}`);
      }
      hourly.push(sketch);
    }
    const exact = day.size;
    const bound = 3 * hourly[0]!.relativeStandardError * exact;

    const sumOfEstimates = hourly.reduce((sum, sketch) => sum + sketch.estimate(), 0);
    expect(sumOfEstimates - exact).toBeGreaterThan(10 * bound); // wrong: far outside the error bound
    expect(sumOfEstimates / exact).toBeGreaterThan(3);

    const union = HyperLogLog.union(hourly, 14).estimate();
    expect(Math.abs(union - exact)).toBeLessThanOrEqual(bound); // right: within it
  });
});

describe('HyperLogLog serialization', () => {
  it('round-trips empty, sparse and dense sketches at every precision, byte for byte', () => {
    for (let p = 4; p <= 18; p++) {
      for (const n of [0, 3, 2 ** p / 8, 2 ** p / 4]) {
        const sketch = sketchOf(distinctHashes(p * 1000 + n, n), p);
        if (n === 2 ** p / 4) expect(sketch.isSparse).toBe(false);
        const bytes = sketch.serialize();
        const copy = HyperLogLog.deserialize(bytes);
        expect(copy.precision).toBe(p);
        expect(copy.isSparse).toBe(sketch.isSparse);
        expect(copy.equals(sketch)).toBe(true);
        expect(copy.estimate()).toBe(sketch.estimate());
        expect(sameBytes(copy.serialize(), bytes)).toBe(true);
        expect(HyperLogLog.fromBase64(sketch.toBase64()).equals(sketch)).toBe(true);
      }
    }
  });

  it('stays usable after a round trip (adds and merges as the original)', () => {
    const hashes = distinctHashes(9, 600);
    const original = sketchOf(hashes.slice(0, 300));
    const copy = HyperLogLog.deserialize(original.serialize());
    for (const [hi, lo] of hashes.slice(300)) {
      original.add(hi, lo);
      copy.add(hi, lo);
    }
    expect(copy.equals(original)).toBe(true);
    expect(sameBytes(copy.serialize(), original.serialize())).toBe(true);
  });

  it('accepts a Buffer view into a larger pool', () => {
    const bytes = sketchOf(distinctHashes(1, 50)).serialize();
    const pool = Buffer.alloc(bytes.length + 16);
    pool.set(bytes, 7);
    expect(HyperLogLog.deserialize(pool.subarray(7, 7 + bytes.length)).estimate()).toBeCloseTo(50, -1);
  });

  const samples: Array<[string, Uint8Array]> = [
    ['empty', new HyperLogLog(12).serialize()],
    ['sparse', sketchOf(distinctHashes(1, 40)).serialize()],
    ['dense', sketchOf(distinctHashes(2, 5000), 8).serialize()],
  ];

  it.each(samples)('rejects every single-byte corruption of a %s sketch', (_, bytes) => {
    for (let pos = 0; pos < bytes.length; pos++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = bytes.slice();
        bad[pos]! ^= flip;
        expectCorrupt(() => HyperLogLog.deserialize(bad));
      }
    }
  });

  it.each(samples)('rejects every truncation and any trailing byte of a %s sketch', (_, bytes) => {
    for (let len = 0; len < bytes.length; len++) expectCorrupt(() => HyperLogLog.deserialize(bytes.subarray(0, len)));
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expectCorrupt(() => HyperLogLog.deserialize(longer));
  });

  it('rejects an unknown version or magic even with a valid checksum', () => {
    const bytes = sketchOf(distinctHashes(1, 40)).serialize();
    const v2 = bytes.slice();
    v2[1] = 2;
    expectCorrupt(() => HyperLogLog.deserialize(withChecksum(v2)), /version 2/);
    const cms = bytes.slice();
    cms[0] = 0x43;
    expectCorrupt(() => HyperLogLog.deserialize(withChecksum(cms)), /magic/);
  });

  it('rejects well-checksummed bytes whose content is impossible', () => {
    const sparse = sketchOf(distinctHashes(1, 3), 12).serialize();
    const dense = sketchOf(distinctHashes(2, 5000), 8).serialize();
    const edit = (bytes: Uint8Array, change: (b: Uint8Array) => void): Uint8Array => {
      const out = bytes.slice();
      change(out);
      return withChecksum(out);
    };
    const cases: Array<[string, Uint8Array]> = [
      ['precision 3', edit(sparse, (b) => (b[2] = 3))],
      ['precision 19', edit(sparse, (b) => (b[2] = 19))],
      ['encoding 2', edit(sparse, (b) => (b[3] = 2))],
      ['sparse count too large', edit(sparse, (b) => (b[4] = 4))],
      ['sparse rank 0', edit(sparse, (b) => (b[b.length - 5] = 0))],
      ['sparse rank above 65 - p', edit(sparse, (b) => (b[b.length - 5] = 54))],
      ['dense register above 65 - p', edit(dense, (b) => (b[4] = 0xff))],
      ['dense body for another precision', edit(dense, (b) => (b[2] = 9))],
      ['sparse body marked dense', edit(sparse, (b) => (b[3] = 1))],
    ];
    for (const [name, bytes] of cases) {
      let thrown: unknown;
      try {
        HyperLogLog.deserialize(bytes);
      } catch (err) {
        thrown = err;
      }
      expect(isPlatformError(thrown, 'PV_SKETCH_CORRUPT'), name).toBe(true);
    }
    // An index past the last register: one entry whose delta is 2^12.
    const outOfRange = withChecksum(Uint8Array.from([0x48, 1, 12, 0, 1, 0, 0, 0, 0x80, 0x20, 1, 0, 0, 0, 0]));
    expectCorrupt(() => HyperLogLog.deserialize(outOfRange), /out of range/);
  });

  it('never throws anything but PV_SKETCH_CORRUPT on random input', () => {
    const random = mulberry32(77);
    for (let trial = 0; trial < 2000; trial++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
      if (trial % 2 === 0 && bytes.length >= 4) bytes.set([0x48, 1, 4 + Math.floor(random() * 15), Math.floor(random() * 2)]);
      const candidate = trial % 4 === 0 && bytes.length >= 8 ? withChecksum(bytes) : bytes;
      try {
        HyperLogLog.deserialize(candidate);
      } catch (err) {
        expect(isPlatformError(err, 'PV_SKETCH_CORRUPT'), String(err)).toBe(true);
      }
    }
  });

  it('rejects input that is not bytes, and invalid base64', () => {
    expectCorrupt(() => HyperLogLog.deserialize('AAAA' as unknown as Uint8Array));
    expectCorrupt(() => HyperLogLog.deserialize(null as unknown as Uint8Array));
    const text = sketchOf(distinctHashes(1, 5)).toBase64();
    expectCorrupt(() => HyperLogLog.fromBase64(`${text.slice(0, -4)}!!!!`));
    expectCorrupt(() => HyperLogLog.fromBase64(text.slice(1)));
    expectCorrupt(() => HyperLogLog.fromBase64(42 as unknown as string));
  });
});

describe('HyperLogLog.fromRegisters', () => {
  it('equals adding the same hashes one by one (the batch layer builds sketches this way in SQL)', async () => {
    const { hllRegister, hash64 } = await import('../../../../shared/core/sketches/index.ts');
    const added = new HyperLogLog(14);
    const registers = new Map<number, number>();
    for (let i = 0; i < 5000; i++) {
      const h = hash64(`visitor-${i}`);
      added.add(h.hi, h.lo);
      const { index, rank } = hllRegister(h.hi, h.lo, 14);
      registers.set(index, Math.max(registers.get(index) ?? 0, rank));
    }
    const built = HyperLogLog.fromRegisters(14, registers);
    expect(built.equals(added)).toBe(true);
    expect(built.estimate()).toBe(added.estimate());
    expect(() => HyperLogLog.fromRegisters(14, [[16384, 1]])).toThrow(/invalid HyperLogLog register/);
  });
});
