import { describe, expect, inject, it } from 'vitest';
import {
  checksum32,
  hash64,
  hash64Bytes,
  hash64FromBigInt,
  hash64ToBigInt,
  murmurHash3x64_128,
  type Hash64,
} from '../../../../shared/core/sketches/hash.ts';
import { clickhouseDialect } from '../../../../shared/adapters/sql-escape.ts';
import { mulberry32 } from '../../../../shared/tools/traffic-generator.ts';
import { missingInfra, suiteName } from '../../../support/infra.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const big = (h: Hash64): bigint => hash64ToBigInt(h);

/** MurmurHash3_x64_128 written straight from the reference C++ with BigInt: slow and obvious. */
function referenceMurmur3(data: Uint8Array, seed: number): [bigint, bigint] {
  const M = (1n << 64n) - 1n;
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M;
  const fmix = (k: bigint): bigint => {
    k ^= k >> 33n;
    k = (k * 0xff51afd7ed558ccdn) & M;
    k ^= k >> 33n;
    k = (k * 0xc4ceb9fe1a85ec53n) & M;
    return k ^ (k >> 33n);
  };
  const c1 = 0x87c37b91114253d5n;
  const c2 = 0x4cf5ad432745937fn;
  let h1 = BigInt(seed);
  let h2 = BigInt(seed);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const blocks = Math.floor(data.length / 16);
  for (let i = 0; i < blocks; i++) {
    let k1 = view.getBigUint64(i * 16, true);
    let k2 = view.getBigUint64(i * 16 + 8, true);
    k1 = (rotl((k1 * c1) & M, 31n) * c2) & M;
    h1 ^= k1;
    h1 = (((rotl(h1, 27n) + h2) & M) * 5n + 0x52dce729n) & M;
    k2 = (rotl((k2 * c2) & M, 33n) * c1) & M;
    h2 ^= k2;
    h2 = (((rotl(h2, 31n) + h1) & M) * 5n + 0x38495ab5n) & M;
  }
  const tail = data.subarray(blocks * 16);
  let k1 = 0n;
  let k2 = 0n;
  for (let i = tail.length - 1; i >= 8; i--) k2 ^= BigInt(tail[i]!) << BigInt(8 * (i - 8));
  if (tail.length > 8) h2 ^= (rotl((k2 * c2) & M, 33n) * c1) & M;
  for (let i = Math.min(tail.length, 8) - 1; i >= 0; i--) k1 ^= BigInt(tail[i]!) << BigInt(8 * i);
  if (tail.length > 0) h1 ^= (rotl((k1 * c1) & M, 31n) * c2) & M;
  h1 ^= BigInt(data.length);
  h2 ^= BigInt(data.length);
  h1 = (h1 + h2) & M;
  h2 = (h2 + h1) & M;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) & M;
  h2 = (h2 + h1) & M;
  return [h1, h2];
}

describe('murmurHash3x64_128 known answers', () => {
  // Guava's Murmur3Hash128Test.testKnownValues (also in Elasticsearch and Spark): [seed, h1, h2, input].
  const GUAVA: Array<[number, bigint, bigint, string]> = [
    [0, 0x629942693e10f867n, 0x92db0b82baeb5347n, 'hell'],
    [1, 0xa78ddff5adae8d10n, 0x128900ef20900135n, 'hello'],
    [2, 0x8a486b23f422e826n, 0xf962a2c58947765fn, 'hello '],
    [3, 0x2ea59f466f6bed8cn, 0xc610990acc428a17n, 'hello w'],
    [4, 0x79f6305a386c572cn, 0x46305aed3483b94en, 'hello wo'],
    [5, 0xc2219d213ec1f1b5n, 0xa1d8e2e0a52785bdn, 'hello wor'],
    [0, 0xe34bbc7bbc071b6cn, 0x7a433ca9c49a9347n, 'The quick brown fox jumps over the lazy dog'],
    [0, 0x658ca970ff85269an, 0x43fee3eaa68e5c3en, 'The quick brown fox jumps over the lazy cog'],
  ];

  it.each(GUAVA)('seed %i: matches Guava (h1 %s)', (seed, h1, h2, input) => {
    expect(murmurHash3x64_128(utf8(input), seed)).toEqual([h1, h2]);
  });

  it("passes SMHasher's verification test (0x6384BA69 for MurmurHash3_x64_128)", () => {
    // Appleby's SMHasher VerificationTest: hash keys {0}, {0,1}, ..., {0..254} with seed 256 - len,
    // concatenate the 16-byte digests, hash that with seed 0, read the first 4 bytes little-endian.
    const key = Uint8Array.from({ length: 256 }, (_, i) => i);
    const digests = new Uint8Array(256 * 16);
    const view = new DataView(digests.buffer);
    for (let len = 0; len < 256; len++) {
      const [h1, h2] = murmurHash3x64_128(key.subarray(0, len), 256 - len);
      view.setBigUint64(len * 16, h1, true);
      view.setBigUint64(len * 16 + 8, h2, true);
    }
    const [final] = murmurHash3x64_128(digests, 0);
    expect(Number(final & 0xffffffffn)).toBe(0x6384ba69);
  });

  it('the empty input with seed 0 hashes to zero', () => {
    expect(murmurHash3x64_128(new Uint8Array(0))).toEqual([0n, 0n]);
  });

  it('agrees with a BigInt transcription of the reference for every tail length and random seeds', () => {
    const random = mulberry32(7);
    for (let len = 0; len <= 80; len++) {
      for (let trial = 0; trial < 3; trial++) {
        const data = Uint8Array.from({ length: len }, () => Math.floor(random() * 256));
        const seed = trial === 0 ? 0 : Math.floor(random() * 2 ** 32);
        expect(murmurHash3x64_128(data, seed), `len ${len} seed ${seed}`).toEqual(referenceMurmur3(data, seed));
      }
    }
  });

  it('rejects a seed that is not an unsigned 32-bit integer', () => {
    expect(() => murmurHash3x64_128(new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => murmurHash3x64_128(new Uint8Array(1), 2 ** 32)).toThrow(RangeError);
  });
});

describe('hash64 (= ClickHouse murmurHash3_64)', () => {
  // Values returned by ClickHouse 18.16.1 for SELECT murmurHash3_64('<input>').
  const CLICKHOUSE: Array<[string, bigint]> = [
    ['', 0x0000000000000000n],
    ['a', 0x63e06f2da757f1d3n],
    ['ab', 0x75d5b6eb8dbfcf83n],
    ['abc', 0x8f344b7e19675535n],
    ['visitor-1', 0x3126971c9d19e29an],
    ['visitor-12345', 0xedc591d237020a45n],
    ['/page/42', 0x31f151a0b4e2e39bn],
    ['0123456789abcde', 0xe9e120fabceb6fa1n],
    ['0123456789abcdef', 0xcc2336c8acedd97dn],
    ['0123456789abcdef0', 0x98dfc634b494e8bfn],
    ['f47ac10b-58cc-4372-a567-0e02b2c3d479', 0xf16c5272197428ban],
    ['Grüße, Jürgen', 0xe5a1efbf50d464b8n],
    ['日本語のページ', 0x0bbfbc5134d378b3n],
    ['emoji 🚀 rocket', 0xaabc9451cb4f6d2an],
    ['x'.repeat(100), 0xdaabb242a6f61621n],
  ];

  it.each(CLICKHOUSE)('%j matches ClickHouse', (input, expected) => {
    expect(big(hash64(input))).toBe(expected);
  });

  it('is h1 XOR h2 of murmurHash3x64_128 over the UTF-8 bytes, for strings and bytes alike', () => {
    const random = mulberry32(11);
    const alphabet = ['a', 'Z', '0', '-', '/', 'é', 'ß', '€', '日', '🚀', '\u0000', '\u007f', '\u0080'];
    for (let trial = 0; trial < 300; trial++) {
      const len = Math.floor(random() * 60);
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(random() * alphabet.length)];
      const [h1, h2] = murmurHash3x64_128(utf8(s));
      expect(big(hash64(s)), JSON.stringify(s)).toBe(h1 ^ h2);
      expect(big(hash64Bytes(utf8(s)))).toBe(h1 ^ h2);
    }
  });

  it('encodes lone surrogates as U+FFFD, like TextEncoder', () => {
    expect(big(hash64('a\ud800b'))).toBe(big(hash64('a\ufffdb')));
  });

  it('handles strings longer than its reusable buffer, then short ones again', () => {
    const long = 'ü'.repeat(5000);
    const [h1, h2] = murmurHash3x64_128(utf8(long));
    expect(big(hash64(long))).toBe(h1 ^ h2);
    expect(big(hash64('abc'))).toBe(0x8f344b7e19675535n);
  });

  it('writes into the object passed and returns it', () => {
    const out: Hash64 = { hi: 0, lo: 0 };
    expect(hash64('abc', out)).toBe(out);
    expect(out).toEqual({ hi: 0x8f344b7e, lo: 0x19675535 });
  });

  it('converts to and from bigint', () => {
    const random = mulberry32(3);
    for (let i = 0; i < 100; i++) {
      const h = { hi: Math.floor(random() * 2 ** 32), lo: Math.floor(random() * 2 ** 32) };
      expect(hash64FromBigInt(hash64ToBigInt(h))).toEqual(h);
    }
    expect(hash64FromBigInt(-1n)).toEqual({ hi: 0xffffffff, lo: 0xffffffff });
  });

  it('spreads sequential ids evenly over the top bits (chi-square over 256 buckets)', () => {
    const buckets = new Array<number>(256).fill(0);
    const n = 256 * 200;
    const out: Hash64 = { hi: 0, lo: 0 };
    for (let i = 0; i < n; i++) buckets[hash64(`visitor-${i}`, out).hi >>> 24]!++;
    const expected = n / 256;
    const chi2 = buckets.reduce((sum, b) => sum + (b - expected) ** 2 / expected, 0);
    // 255 degrees of freedom: the 99.9th percentile is about 330.
    expect(chi2).toBeLessThan(330);
  });

  it('checksum32 is the low 32 bits of hash64 over the bytes before `end`', () => {
    const bytes = utf8('abcdef');
    expect(checksum32(bytes, 3)).toBe(0x19675535);
  });
});

const clickhouseUrl = inject('infra').clickhouseUrl;

const skipReason = missingInfra('ClickHouse');

describe.skipIf(skipReason !== undefined)(suiteName('hash64 against a live ClickHouse', skipReason), () => {
  it('equals murmurHash3_64 for random strings', async () => {
    const random = mulberry32(99);
    const alphabet = 'abcXYZ019-_/é€日🚀';
    const inputs: string[] = [];
    for (let i = 0; i < 200; i++) {
      const chars = [...alphabet];
      const len = Math.floor(random() * 50);
      let s = '';
      for (let j = 0; j < len; j++) s += chars[Math.floor(random() * chars.length)];
      inputs.push(s);
    }
    const { sql } = clickhouseDialect;
    const query = sql`SELECT arrayMap(s -> toString(murmurHash3_64(s)), [${inputs}]) AS h FORMAT JSONEachRow`.text;
    const res = await fetch(clickhouseUrl ?? '', { method: 'POST', body: query });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const hashes = (JSON.parse(text) as { h: string[] }).h;
    expect(hashes).toEqual(inputs.map((s) => hash64ToBigInt(hash64(s)).toString()));
  });
});
