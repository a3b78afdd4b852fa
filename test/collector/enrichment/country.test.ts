import { describe, expect, it, vi } from 'vitest';
import { CountryLookup, RangeCache, formatIpv4, isPublicIpv4, parseIpv4, type GeoLookup, type GeoRecord } from '../../../collector/enrichment/country.ts';
import { CountryTable, loadCountryTable } from '../../../collector/enrichment/country-table.ts';
import type { Logger } from '../../../shared/runtime/logger.ts';

describe('parseIpv4', () => {
  it.each([
    ['8.8.8.8', 0x08080808],
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
    ['::ffff:8.8.8.8', 0x08080808],
    ['::FFFF:193.0.6.139', 0xc100068b],
  ])('%s', (text, expected) => {
    expect(parseIpv4(text)).toBe(expected);
  });

  it.each([['1.2.3'], ['1.2.3.4.5'], ['256.1.1.1'], ['01.2.3.4'], ['1.2.3.-4'], ['1.2.3.4 '], ['0x7f.0.0.1'], ['::1'], ['2001:db8::1'], ['::ffff:1.2.3'], [''], ['a.b.c.d'], ['1..2.3']])(
    '%j is not an IPv4 address',
    (text) => {
      expect(parseIpv4(text)).toBeUndefined();
    },
  );

  it('formatIpv4 is its inverse', () => {
    for (const text of ['8.8.8.8', '0.0.0.0', '255.255.255.255', '193.0.6.139']) expect(formatIpv4(parseIpv4(text) as number)).toBe(text);
  });
});

describe('isPublicIpv4', () => {
  it.each([
    ['0.1.2.3', false],
    ['10.0.0.1', false],
    ['100.64.0.1', false],
    ['100.127.255.255', false],
    ['100.128.0.0', true],
    ['127.0.0.1', false],
    ['169.254.1.1', false],
    ['172.15.255.255', true],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['172.32.0.0', true],
    ['192.0.2.1', false],
    ['192.168.1.1', false],
    ['198.18.0.1', false],
    ['198.51.100.1', false],
    ['203.0.113.5', false],
    ['224.0.0.1', false],
    ['240.0.0.1', false],
    ['255.255.255.255', false],
    ['8.8.8.8', true],
    ['193.0.6.139', true],
  ])('%s: %s', (text, expected) => {
    expect(isPublicIpv4(parseIpv4(text) as number)).toBe(expected);
  });
});

describe('RangeCache', () => {
  it('finds the range holding an address, end exclusive', () => {
    const cache = new RangeCache(10);
    cache.add(100, 200, 'A');
    cache.add(300, 400, 'B');
    cache.add(200, 300, 'C');
    expect([99, 100, 199, 200, 299, 300, 399, 400].map((ip) => cache.find(ip))).toEqual([undefined, 'A', 'A', 'C', 'C', 'B', 'B', undefined]);
  });

  it('refuses overlapping and empty ranges', () => {
    const cache = new RangeCache(10);
    cache.add(100, 200, 'A');
    cache.add(150, 250, 'X');
    cache.add(50, 101, 'X');
    cache.add(100, 200, 'X');
    cache.add(300, 300, 'X');
    expect(cache.size).toBe(1);
    expect(cache.find(150)).toBe('A');
  });

  it('empties itself when full', () => {
    const cache = new RangeCache(2);
    cache.add(0, 10, 'A');
    cache.add(10, 20, 'B');
    cache.add(20, 30, 'C');
    expect(cache.size).toBe(1);
    expect(cache.find(25)).toBe('C');
    expect(cache.find(5)).toBeUndefined();
  });
});

/** A stand-in database: every address in 8.0.0.0/8 is US, other public ones are unknown. */
function standIn(): { lookup: GeoLookup; calls: string[] } {
  const calls: string[] = [];
  const lookup: GeoLookup = async (ip) => {
    calls.push(ip);
    const n = parseIpv4(ip) as number;
    return n >>> 24 === 8 ? ({ country: 'US', range: [0x08000000, 0x09000000] } satisfies GeoRecord) : null;
  };
  return { lookup, calls };
}

describe('CountryLookup with a stand-in database', () => {
  it('answers later addresses of a range from the cache', async () => {
    const { lookup, calls } = standIn();
    const countries = new CountryLookup({ cacheSize: 100, lookup });
    expect(await countries.country('8.8.8.8')).toBe('US');
    expect(await countries.country('8.1.2.3')).toBe('US');
    expect(await countries.country('::ffff:8.200.0.1')).toBe('US');
    expect(calls).toEqual(['8.8.8.8']);
    expect(countries.stats()).toMatchObject({ cacheHits: 2, databaseLookups: 1, cachedRanges: 1 });
  });

  it('never looks up special-purpose, IPv6 or invalid addresses', async () => {
    const { lookup, calls } = standIn();
    const countries = new CountryLookup({ cacheSize: 100, lookup });
    for (const address of ['10.0.0.1', '127.0.0.1', '192.168.0.1', '169.254.0.1', '::1', '2001:db8::1', 'fe80::1', 'localhost', '', '8.8.8', 42, undefined]) {
      expect(await countries.country(address)).toBeUndefined();
    }
    expect(calls).toEqual([]);
    expect(countries.stats()).toMatchObject({ ipv6: 3, notPublic: 9 });
  });

  it('gives no country when the database fails, answers nothing, or answers something that is not a code', async () => {
    const rejecting = new CountryLookup({ lookup: () => Promise.reject(new Error('disk gone')) });
    expect(await rejecting.country('8.8.8.8')).toBeUndefined();
    expect(rejecting.stats().failures).toBe(1);
    const throwing = new CountryLookup({
      lookup: () => {
        throw new Error('sync');
      },
    });
    expect(await throwing.country('8.8.8.8')).toBeUndefined();
    const odd = new CountryLookup({ lookup: async () => ({ country: 'usa', range: [0, 1] }) });
    expect(await odd.country('8.8.8.8')).toBeUndefined();
    expect(odd.stats().notFound).toBe(1);
    const { lookup } = standIn();
    expect(await new CountryLookup({ cacheSize: 100, lookup }).country('9.9.9.9')).toBeUndefined();
  });

  it('does not cache a range that does not hold the address', async () => {
    const countries = new CountryLookup({ cacheSize: 100, lookup: async () => ({ country: 'DE', range: [0, 10] }) });
    expect(await countries.country('8.8.8.8')).toBe('DE');
    expect(countries.stats().cachedRanges).toBe(0);
  });

  it('reports unavailable when the database does not answer', async () => {
    expect(await new CountryLookup({ lookup: async () => null }).status()).toBe('unavailable');
    expect(await new CountryLookup({ lookup: () => Promise.reject(new Error('x')) }).status()).toBe('unavailable');
  });
});

/** 8.0.0.0/8 is US, everything else has no country. */
const SMALL_TABLE = new CountryTable(Uint32Array.of(0, 0x08000000, 0x09000000), Uint8Array.of(0, 1, 0), ['', 'US']);

/** A logger that records its info and error calls. */
function recordingLogger(): { logger: Logger; info: ReturnType<typeof vi.fn>; error: ReturnType<typeof vi.fn> } {
  const info = vi.fn();
  const error = vi.fn();
  return { logger: { info, error } as unknown as Logger, info, error };
}

describe('CountryLookup with a table', () => {
  it('answers from the table, filtering special-purpose addresses first', async () => {
    const countries = new CountryLookup({ table: async () => SMALL_TABLE, cacheSize: 100 });
    expect(await countries.country('8.8.8.8')).toBe('US');
    expect(await countries.country('9.9.9.9')).toBeUndefined();
    expect(await countries.country('::ffff:8.0.0.1')).toBe('US');
    expect(await countries.country('10.0.0.1')).toBeUndefined();
    expect(countries.stats()).toMatchObject({ databaseLookups: 3, notFound: 1, notPublic: 1, cacheHits: 0, cachedRanges: 0 });
    expect(await countries.status()).toBe('ok');
  });

  it('lookups made while the table builds wait for it, and the table is asked for once', async () => {
    let finish: (table: CountryTable) => void = () => {};
    const load = vi.fn(() => new Promise<CountryTable>((resolve) => (finish = resolve)));
    const countries = new CountryLookup({ table: load });
    const early = [countries.country('8.8.8.8'), countries.country('8.1.2.3'), countries.status()];
    await Promise.resolve();
    finish(SMALL_TABLE);
    expect(await Promise.all(early)).toEqual(['US', 'US', 'ok']);
    expect(await countries.country('8.4.4.4')).toBe('US');
    expect(load).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['rejects', () => Promise.reject(new Error('layout changed'))],
    [
      'throws',
      () => {
        throw new Error('sync');
      },
    ],
  ])('gives no country and reports unavailable when the table loader %s, and never rejects', async (_name, load) => {
    const countries = new CountryLookup({ table: load });
    expect(await countries.country('8.8.8.8')).toBeUndefined();
    expect(await countries.country('1.1.1.1')).toBeUndefined();
    expect(await countries.status()).toBe('unavailable');
    expect(countries.stats()).toMatchObject({ databaseLookups: 2, failures: 2 });
  });

  it('tells the logger once per table, however many lookups share it', async () => {
    const failed = loadCountryTable({ dataDir: '/nonexistent/fast-geoip/data' });
    const { logger, info, error } = recordingLogger();
    const lookups = [new CountryLookup({ table: () => failed, logger }), new CountryLookup({ table: () => failed, logger })];
    for (const countries of lookups) {
      expect(await countries.country('8.8.8.8')).toBeUndefined();
      expect(await countries.status()).toBe('unavailable');
    }
    expect(error).toHaveBeenCalledTimes(1);
    expect(error.mock.calls[0]?.[0]).toMatchObject({ err: expect.objectContaining({ message: expect.stringMatching(/ENOENT/) }) });
    expect(info).not.toHaveBeenCalled();

    const built = Promise.resolve(SMALL_TABLE);
    const ok = recordingLogger();
    for (const countries of [new CountryLookup({ table: () => built, logger: ok.logger }), new CountryLookup({ table: () => built, logger: ok.logger })]) await countries.country('8.8.8.8');
    expect(ok.info).toHaveBeenCalledTimes(1);
    expect(ok.info.mock.calls[0]?.[0]).toMatchObject({ ranges: 3, bytes: 15 });
    expect(ok.error).not.toHaveBeenCalled();
  });
});

describe('CountryLookup with the shared country table (fast-geoip 1.1.88 data, no network)', () => {
  // Countries checked against the bundled GeoLite data (fast-geoip 1.1.88) and the operators' registrations.
  it.each([
    ['8.8.8.8', 'US'], // Google Public DNS
    ['81.2.69.142', 'GB'], // MaxMind's own test address
    ['193.0.6.139', 'NL'], // RIPE NCC, Amsterdam
    ['133.1.1.1', 'JP'], // Osaka University
    ['200.160.2.3', 'BR'], // NIC.br
    ['::ffff:77.88.8.8', 'RU'], // Yandex DNS, IPv4-mapped
  ])('%s is in %s', async (address, country) => {
    expect(await new CountryLookup().country(address)).toBe(country);
  });

  it.each([['10.0.0.1'], ['127.0.0.1'], ['192.168.1.10'], ['172.16.5.4'], ['169.254.169.254'], ['100.64.1.1'], ['203.0.113.5'], ['::1'], ['2001:4860:4860::8888'], ['::ffff:127.0.0.1'], ['0.0.0.0'], ['255.255.255.255']])(
    '%s has no country',
    async (address) => {
      expect(await new CountryLookup().country(address)).toBeUndefined();
    },
  );

  it('is available', async () => {
    expect(await new CountryLookup().status()).toBe('ok');
  });
});
