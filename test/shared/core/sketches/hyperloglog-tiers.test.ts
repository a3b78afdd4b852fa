import { describe, expect, it } from 'vitest';
import { checksum32 } from '../../../../shared/core/sketches/hash.ts';
import { HyperLogLog, hllRegister } from '../../../../shared/core/sketches/hyperloglog.ts';
import { mulberry32 } from '../../../../shared/tools/traffic-generator.ts';

/*
 * A sparse HyperLogLog keeps its table in a plain array up to 16 slots (12 registers), in a
 * Uint32Array beyond, and turns dense beyond 3/16 · 2^p registers. These tests walk sketches
 * across both boundaries and check that nothing but the container changes.
 */

/** The hash halves that land in register `index` with `rank` (rank ≤ 32 − p) at precision p. */
function hashFor(precision: number, index: number, rank: number): [number, number] {
  return [((index << (32 - precision)) | (1 << (32 - precision - rank))) >>> 0, 0];
}

function nonZeroRegisters(sketch: HyperLogLog): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  sketch.registers().forEach((rank, index) => {
    if (rank > 0) out.push([index, rank]);
  });
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The documented serialized form of these registers (docs/sketches.md), built by hand. */
function documentedBytes(precision: number, registers: Uint8Array): Uint8Array {
  const bytes: number[] = [0x48, 1, precision];
  const nonZero = [...registers].flatMap((rank, index) => (rank > 0 ? [[index, rank] as const] : []));
  if (nonZero.length > (3 * registers.length) / 16) {
    bytes.push(1);
    for (let j = 0; j < registers.length; j += 4) {
      const group = registers[j]! + registers[j + 1]! * 2 ** 6 + registers[j + 2]! * 2 ** 12 + registers[j + 3]! * 2 ** 18;
      bytes.push(group & 0xff, (group >>> 8) & 0xff, group >>> 16);
    }
  } else {
    bytes.push(0, nonZero.length & 0xff, (nonZero.length >>> 8) & 0xff, nonZero.length >>> 16, 0);
    let previous = -1;
    for (const [index, rank] of nonZero) {
      let delta = index - previous - 1;
      previous = index;
      while (delta >= 0x80) {
        bytes.push((delta & 0x7f) | 0x80);
        delta >>>= 7;
      }
      bytes.push(delta, rank);
    }
  }
  const out = new Uint8Array(bytes.length + 4);
  out.set(bytes);
  new DataView(out.buffer).setUint32(bytes.length, checksum32(out, bytes.length), true);
  return out;
}

/**
 * Everything observable about `sketch` equals the sketch built by fromRegisters from its
 * registers, and its bytes are the documented encoding of those registers.
 */
function expectSameAsFromRegisters(sketch: HyperLogLog, label: string): void {
  expect(sameBytes(sketch.serialize(), documentedBytes(sketch.precision, sketch.registers())), label).toBe(true);
  const rebuilt = HyperLogLog.fromRegisters(sketch.precision, nonZeroRegisters(sketch));
  expect(sameBytes(sketch.serialize(), rebuilt.serialize()), label).toBe(true);
  expect(sameBytes(sketch.registers(), rebuilt.registers()), label).toBe(true);
  expect(sketch.toBase64(), label).toBe(rebuilt.toBase64());
  expect(sketch.estimate(), label).toBe(rebuilt.estimate());
  expect(sketch.isSparse, label).toBe(rebuilt.isSparse);
  expect(sketch.memoryBytes, label).toBe(rebuilt.memoryBytes);
  expect(sketch.equals(rebuilt) && rebuilt.equals(sketch), label).toBe(true);
  const copy = sketch.clone();
  expect(sameBytes(copy.serialize(), rebuilt.serialize()), label).toBe(true);
  expect(HyperLogLog.fromBase64(sketch.toBase64()).equals(sketch), label).toBe(true);
}

describe('HyperLogLog storage tiers (small array, Uint32Array, dense)', () => {
  it('a sketch crossing from the small array to the typed array to dense has the registers and encoding of fromRegisters at every boundary', () => {
    const precision = 14;
    const m = 2 ** precision;
    const random = mulberry32(13);
    const sketch = new HyperLogLog(precision);
    let previousBytes = sketch.memoryBytes;
    let sawSmall = false;
    let sawTyped = false;
    for (let i = 0; sketch.isSparse || nonZeroRegisters(sketch).length < (3 * m) / 16 + 20; i++) {
      sketch.add(random() * 2 ** 32, random() * 2 ** 32);
      const registers = nonZeroRegisters(sketch).length;
      // Up to 12 registers the table is a plain array: well below a typed array's overhead.
      if (registers <= 12) {
        expect(sketch.memoryBytes).toBeLessThan(256);
        sawSmall = true;
      } else if (sketch.isSparse) {
        expect(sketch.memoryBytes).toBeGreaterThan(256);
        sawTyped = true;
      }
      expect(sketch.isSparse).toBe(registers <= (3 * m) / 16);
      expect(sketch.memoryBytes).toBeGreaterThanOrEqual(previousBytes);
      previousBytes = sketch.memoryBytes;
      // Every step near a boundary (table sizes 4, 8, 16 | 32 ... | dense), every 97th elsewhere.
      const nearBoundary = [3, 4, 6, 7, 12, 13, 24, 25, (3 * m) / 16, (3 * m) / 16 + 1].some((b) => Math.abs(registers - b) <= 1);
      if (nearBoundary || i % 97 === 0) expectSameAsFromRegisters(sketch, `after ${i + 1} adds, ${registers} registers`);
    }
    expect(sawSmall && sawTyped && !sketch.isSparse).toBe(true);
    expectSameAsFromRegisters(sketch, 'dense');
  });

  it('probes and raises registers the same in every tier, including indexes that collide in the low bits', () => {
    for (const precision of [4, 5, 6, 7, 8, 10, 14]) {
      const m = 2 ** precision;
      const maxRank = 32 - precision;
      const denseAt = (3 * m) / 16 + 1;
      const random = mulberry32(precision);
      const sketch = new HyperLogLog(precision);
      const expected = new Uint8Array(m);
      // Indexes equal modulo 16 first (long probe chains that wrap around a 16-slot table).
      const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => (a % 16) - (b % 16) || a - b);
      for (let n = 0; n < Math.min(m, denseAt + 10); n++) {
        const index = order[n]!;
        for (let k = 0; k < 3; k++) {
          const rank = 1 + Math.floor(random() * maxRank);
          expect(sketch.add(...hashFor(precision, index, rank))).toBe(rank > expected[index]!);
          expected[index] = Math.max(expected[index]!, rank);
        }
        // Raise an earlier register: found by probing in whatever table holds it now.
        const earlier = order[Math.floor(random() * (n + 1))]!;
        const rank = 1 + Math.floor(random() * maxRank);
        expect(sketch.add(...hashFor(precision, earlier, rank))).toBe(rank > expected[earlier]!);
        expected[earlier] = Math.max(expected[earlier]!, rank);
        expect(sketch.isSparse).toBe(n + 1 < denseAt);
        if (n < 40 || Math.abs(n + 1 - denseAt) <= 2 || n % 64 === 0) {
          expect(sameBytes(sketch.registers(), expected), `p ${precision} after ${n + 1} registers`).toBe(true);
          expectSameAsFromRegisters(sketch, `p ${precision} after ${n + 1} registers`);
        }
      }
      expect(sketch.isSparse).toBe(false);
    }
  });

  it('merges any two tiers into the sketch of the union', () => {
    const precision = 14;
    const random = mulberry32(7);
    const sizes = [0, 1, 3, 12, 13, 100, 3000, 4000]; // empty, small, small (full), typed, typed, typed, dense
    const streams = sizes.map((n) => Array.from({ length: n }, () => [random() * 2 ** 32, random() * 2 ** 32] as const));
    const sketchOf = (hashes: ReadonlyArray<readonly [number, number]>): HyperLogLog => {
      const sketch = new HyperLogLog(precision);
      for (const [hi, lo] of hashes) sketch.add(hi, lo);
      return sketch;
    };
    for (const a of streams) {
      for (const b of streams) {
        const merged = sketchOf(a).merge(sketchOf(b));
        const union = sketchOf([...a, ...b]);
        expect(sameBytes(merged.serialize(), union.serialize()), `${a.length} ∪ ${b.length}`).toBe(true);
        expectSameAsFromRegisters(merged, `${a.length} ∪ ${b.length}`);
      }
    }
  });

  it('add sets the register hllRegister names, for unsigned and int32 halves alike', () => {
    const random = mulberry32(99);
    for (const precision of [4, 10, 14, 18]) {
      for (let i = 0; i < 2000; i++) {
        const hi = i % 7 === 0 ? Math.floor(random() * 2 ** (32 - precision)) : Math.floor(random() * 2 ** 32); // some with hi << p = 0
        const lo = i % 5 === 0 ? 0 : Math.floor(random() * 2 ** 32);
        const { index, rank } = hllRegister(hi, lo, precision);
        const expected = HyperLogLog.fromRegisters(precision, [[index, rank]]).toBase64();
        for (const [h, l] of [
          [hi, lo],
          [hi | 0, lo | 0],
        ] as const) {
          const sketch = new HyperLogLog(precision);
          sketch.add(h, l);
          expect(sketch.toBase64()).toBe(expected);
        }
      }
    }
  });

  it('costs less than 200 bytes for one visitor, and memoryBytes grows with the table', () => {
    const one = new HyperLogLog(14);
    one.addString('only-visitor');
    expect(one.memoryBytes).toBeLessThan(200);
    expect(HyperLogLog.fromBase64(one.toBase64()).memoryBytes).toBe(one.memoryBytes);
    expect(one.clone().memoryBytes).toBe(one.memoryBytes);
    expect(new HyperLogLog(14).memoryBytes).toBeLessThan(one.memoryBytes);
  });
});
