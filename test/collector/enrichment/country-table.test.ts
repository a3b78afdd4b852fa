import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import fastGeoip from 'fast-geoip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIpv4, isPublicIpv4, parseIpv4 } from '../../../collector/enrichment/country.ts';
import { CountryTable, loadCountryTable, sharedCountryTable } from '../../../collector/enrichment/country-table.ts';
import { COUNTRY_PATTERN } from '../../../shared/core/page-view.ts';

/** What fast-geoip's own API answers for an address: its country when that is an ISO code. */
async function fastGeoipCountry(ip: number): Promise<string | undefined> {
  const record = await fastGeoip.lookup(formatIpv4(ip));
  return record !== null && COUNTRY_PATTERN.test(record.country) ? record.country : undefined;
}

/** Addresses where the table and fast-geoip disagree, as `address: table ≠ fast-geoip`. */
async function disagreements(table: CountryTable, ips: readonly number[]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < ips.length; i += 64) {
    const batch = ips.slice(i, i + 64);
    const expected = await Promise.all(batch.map(fastGeoipCountry));
    batch.forEach((ip, j) => {
      const got = table.country(ip);
      if (got !== expected[j]) out.push(`${formatIpv4(ip)}: ${String(got)} ≠ ${String(expected[j])}`);
    });
  }
  return out;
}

describe('the country table built from fast-geoip 1.1.88 agrees with fast-geoip', () => {
  let table: CountryTable;
  beforeAll(async () => {
    table = await sharedCountryTable();
  });

  it('on 5,000 random public IPv4 addresses, and on the first and last address of their fast-geoip ranges', async () => {
    const ips = fc.sample(fc.integer({ min: 0, max: 2 ** 32 - 1 }).filter(isPublicIpv4), { numRuns: 5000, seed: 20260131 });
    expect(await disagreements(table, ips)).toEqual([]);
    // fast-geoip's own ranges: the table must give their first and last address the same answer.
    const bounds: number[] = [];
    for (const ip of ips.slice(0, 1000)) {
      const record = await fastGeoip.lookup(formatIpv4(ip));
      if (record !== null) bounds.push(record.range[0], record.range[1] - 1);
    }
    expect(bounds.length).toBeGreaterThan(1500);
    expect(await disagreements(table, bounds)).toEqual([]);
  });

  it('on both sides of 500 random boundaries between its merged ranges, and at the ends of the address space', async () => {
    const indexes = fc.sample(fc.integer({ min: 1, max: table.size - 1 }), { numRuns: 500, seed: 7 });
    const ips = indexes.flatMap((i) => [table.range(i).start - 1, table.range(i).start]);
    const ends = ['0.0.0.0', '0.255.255.255', '1.0.0.0', '1.0.0.1', '8.8.8.8', '255.255.255.254', '255.255.255.255'].map((a) => parseIpv4(a) as number);
    const last = table.range(table.size - 1).start;
    expect(await disagreements(table, [...ips, ...ends, 1, last, last - 1, table.range(1).start])).toEqual([]);
  });

  it('holds ~230k merged ranges in about 1.2 MB, no two neighbours with the same country', () => {
    expect(table.size).toBeGreaterThan(100_000);
    expect(table.size).toBeLessThan(400_000);
    expect(table.byteLength).toBeLessThan(2_000_000);
    expect(table.build.sourceRanges).toBeGreaterThan(3_000_000);
    for (let i = 1; i < table.size; i++) if (table.range(i).country === table.range(i - 1).country) expect.unreachable(`ranges ${i - 1} and ${i} have the same country`);
    expect(table.range(0)).toEqual({ start: 0, end: parseIpv4('1.0.0.0'), country: undefined }); // fast-geoip has nothing before 1.0.0.0
  });

  it('is one table per process', () => {
    expect(sharedCountryTable()).toBe(sharedCountryTable());
  });
});

describe('CountryTable', () => {
  const table = new CountryTable(Uint32Array.of(0, 100, 200, 300), Uint8Array.of(0, 1, 0, 2), ['', 'DE', 'FR']);

  it.each([
    [0, undefined],
    [99, undefined],
    [100, 'DE'],
    [199, 'DE'],
    [200, undefined],
    [299, undefined],
    [300, 'FR'],
    [2 ** 32 - 1, 'FR'],
  ])('address %d: %s', (ip, country) => {
    expect(table.country(ip)).toBe(country);
  });

  it.each([
    ['empty', new Uint32Array(0), new Uint8Array(0), ['']],
    ['not starting at 0', Uint32Array.of(5), Uint8Array.of(0), ['']],
    ['lengths differ', Uint32Array.of(0, 5), Uint8Array.of(0), ['']],
    ['starts not ascending', Uint32Array.of(0, 5, 5), Uint8Array.of(0, 1, 0), ['', 'DE']],
    ['index out of range', Uint32Array.of(0, 5), Uint8Array.of(0, 2), ['', 'DE']],
    ['no "no country" first', Uint32Array.of(0), Uint8Array.of(0), ['DE']],
    ['a code that is not ISO', Uint32Array.of(0, 5), Uint8Array.of(0, 1), ['', 'usa']],
  ])('refuses arrays that are not a table: %s', (_name, starts, countries, codes) => {
    expect(() => new CountryTable(starts, countries, codes)).toThrow(RangeError);
  });
});

/** A tiny dataset in fast-geoip's layout (records of 112 bytes, 56 leaves per block). */
interface FakeData {
  index: unknown;
  mids: unknown[];
  leaves: unknown[];
  locations: string[];
}

const FAKE: FakeData = {
  index: [16777216],
  mids: [[16777216, 16777472]],
  leaves: [
    [[16777216, 0, 1.5, 2.5, 10]],
    [
      [16777472, 2, 0, 0, 10],
      [16777600, null, 0, 0, 10],
      [16777728, 1, 0, 0, 10],
      [16777984, 3, 0, 0, 10],
    ],
  ],
  locations: ['["AU", "", "", 0, "Australia/Sydney", "0"]', '["CN", "", "Zürich", 0, "Asia/Shanghai", "0"]', '["AU", "NSW", "Sydney", 0, "Australia/Sydney", "0"]', '["", "", "", 0, "", "0"]'],
};

function writeFake(dir: string, data: FakeData): void {
  writeFileSync(join(dir, 'index.json'), JSON.stringify(data.index));
  data.mids.forEach((mid, r) => writeFileSync(join(dir, `i${r}.json`), JSON.stringify(mid)));
  data.leaves.forEach((leaf, n) => writeFileSync(join(dir, `${n}.json`), JSON.stringify(leaf)));
  // Padded to 111 bytes (not characters: a city may be non-ASCII), then ',' or the closing ']'.
  const records = data.locations.map((r, i) => ' '.repeat(111 - Buffer.byteLength(r)) + r + (i === data.locations.length - 1 ? ']' : ','));
  writeFileSync(join(dir, 'locations.json'), `[${records.join('')}`);
}

describe('loadCountryTable (a worker thread) on data in fast-geoip layout', () => {
  const dirs: string[] = [];
  const fake = (data: FakeData): string => {
    const dir = mkdtempSync(join(tmpdir(), 'country-table-'));
    dirs.push(dir);
    writeFake(dir, data);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('merges neighbours of one country, keeps gaps and locations without a code as no country', async () => {
    const table = await loadCountryTable({ dataDir: fake(FAKE) });
    const ranges = Array.from({ length: table.size }, (_, i) => table.range(i));
    expect(ranges).toEqual([
      { start: 0, end: 16777216, country: undefined },
      { start: 16777216, end: 16777600, country: 'AU' }, // two AU ranges merged
      { start: 16777600, end: 16777728, country: undefined }, // a gap (null location)
      { start: 16777728, end: 16777984, country: 'CN' },
      { start: 16777984, end: 2 ** 32, country: undefined }, // a location whose country is ''
    ]);
    expect(table.build.sourceRanges).toBe(5);
  });

  const broken: [string, (d: FakeData) => FakeData, RegExp][] = [
    ['a leaf start out of order', (d) => ({ ...d, leaves: [d.leaves[0], [[16777472, 2], [16777472, 1]]] }), /1\.json has a start out of order/],
    ['a leaf not starting at its index entry', (d) => ({ ...d, leaves: [d.leaves[0], [[16777473, 2]]] }), /1\.json does not start at i0\.json's entry/],
    ['a block index not starting at the root entry', (d) => ({ ...d, mids: [[16777217, 16777472]] }), /i0\.json does not start at index\.json's entry/],
    ['a location index past the end', (d) => ({ ...d, leaves: [[[16777216, 4]], d.leaves[1]] }), /0\.json has a bad location: 4/],
    ['a location record that is not JSON', (d) => ({ ...d, locations: ['["AU", oops]', ...d.locations.slice(1)] }), /not valid JSON/],
    ['an index that is not an array', (d) => ({ ...d, index: { 0: 16777216 } }), /index\.json is not a non-empty array/],
    ['a missing leaf file', (d) => ({ ...d, mids: [[16777216, 16777472, 16778000]] }), /ENOENT.*2\.json/],
  ];
  it.each(broken)('rejects data with %s', async (_name, change, message) => {
    await expect(loadCountryTable({ dataDir: fake(change(FAKE)) })).rejects.toThrow(message);
  });

  it('rejects when the data directory is missing', async () => {
    await expect(loadCountryTable({ dataDir: join(tmpdir(), 'no-such-fast-geoip-data') })).rejects.toThrow(/ENOENT/);
  });

  it('rejects when the build takes longer than timeoutMs', async () => {
    await expect(loadCountryTable({ timeoutMs: 1 })).rejects.toThrow(/longer than 1 ms/);
  });
});
