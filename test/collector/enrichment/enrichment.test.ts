import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VisitEnrichment, type VisitContext } from '../../../collector/enrichment/index.ts';
import { VISIT_FIELDS, validatePageView, type VisitFields } from '../../../shared/core/page-view.ts';
import { isPlatformError } from '../../../shared/core/errors.ts';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1';

/** A valid v1 event the visit fields are added to. */
const BASE_EVENT = { eventId: randomUUID(), site: 'example.com', pageId: '/', visitorId: 'v1', timestamp: Date.UTC(2026, 0, 31) };

/** Whether the schema accepts the fields on an event; the errors when it does not. */
function schemaErrors(fields: VisitFields): unknown {
  const result = validatePageView({ ...BASE_EVENT, schemaVersion: 2, ...fields });
  return result.ok ? null : result.errors;
}

describe('VisitEnrichment.enrich', () => {
  it('derives every field of a browser visit', async () => {
    const enrichment = new VisitEnrichment();
    const fields = await enrichment.enrich({
      pageUrl: 'https://www.example.com/pricing?utm_source=Newsletter&utm_medium=email&utm_campaign=spring+sale',
      referrer: 'https://mail.google.com/',
      userAgent: SAFARI_IPHONE,
      screenWidth: 390,
      clientIp: '81.2.69.142',
    });
    expect(fields).toEqual({
      source: 'Newsletter',
      utmMedium: 'email',
      utmSource: 'Newsletter',
      utmCampaign: 'spring sale',
      device: 'Mobile',
      browser: 'Safari',
      browserVersion: '17.2',
      os: 'iOS',
      osVersion: '17.2',
      country: 'GB',
    });
    expect(Object.keys(fields)).toEqual(VISIT_FIELDS.filter((f) => f in fields));
    expect(schemaErrors(fields)).toBeNull();
  });

  it('takes the device from the width over the user agent, and from the user agent without a width', async () => {
    const enrichment = new VisitEnrichment({ geoip: false });
    expect((await enrichment.enrich({ userAgent: SAFARI_IPHONE, screenWidth: 1500 })).device).toBe('Desktop');
    expect((await enrichment.enrich({ userAgent: SAFARI_IPHONE })).device).toBe('Mobile');
    expect((await enrichment.enrich({ userAgent: CHROME_WINDOWS })).device).toBe('Desktop');
    expect((await enrichment.enrich({ screenWidth: 800 })).device).toBe('Tablet');
    expect((await enrichment.enrich({})).device).toBeUndefined();
  });

  it('gives no country when geoip is off', async () => {
    const enrichment = new VisitEnrichment({ geoip: false });
    expect(await enrichment.enrich({ clientIp: '8.8.8.8' })).toEqual({});
    expect(await enrichment.geoipStatus()).toBe('off');
    expect(enrichment.stats().countries).toBeNull();
  });

  it('gives no country for private, loopback and IPv6 addresses', async () => {
    const enrichment = new VisitEnrichment();
    for (const clientIp of ['192.168.1.1', '127.0.0.1', '::1', '2a00:1450:4001:80b::200e']) expect(await enrichment.enrich({ clientIp })).toEqual({});
    expect(await enrichment.geoipStatus()).toBe('ok');
  });

  it('drops a derived version longer than the schema allows', async () => {
    const enrichment = new VisitEnrichment({ geoip: false });
    const fields = await enrichment.enrich({ userAgent: CHROME_WINDOWS.replace('120.0.6099.109', '1'.repeat(150)) });
    expect(fields.browser).toBe('Chrome');
    expect(fields.browserVersion).toBeUndefined();
    expect(schemaErrors(fields)).toBeNull();
  });

  it('never rejects, whatever it is given', async () => {
    const enrichment = new VisitEnrichment();
    const odd = [null, undefined, 42, 'text', [], { pageUrl: 1, referrer: {}, userAgent: [], screenWidth: '1', clientIp: 8 }] as unknown as VisitContext[];
    for (const context of odd) await expect(enrichment.enrich(context)).resolves.toEqual({});
  });
});

describe('VisitEnrichment.isBot', () => {
  const enrichment = new VisitEnrichment({ geoip: false });
  it.each([
    ['Googlebot', 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', true],
    ['bingbot', 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', true],
    ['curl', 'curl/8.4.0', true],
    ['HeadlessChrome', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36', true],
    ['Chrome', CHROME_WINDOWS, false],
    ['empty', '', true],
    ['missing', undefined, true],
  ])('%s: %s', (_name, userAgent, expected) => {
    expect(enrichment.isBot(userAgent)).toBe(expected);
    expect(enrichment.isBot(userAgent)).toBe(expected); // cached
  });
});

describe('VisitEnrichment options', () => {
  it.each([
    [{ userAgentCacheSize: -1 }, 'userAgentCacheSize'],
    [{ userAgentCacheSize: 1.5 }, 'userAgentCacheSize'],
    [{ countryCacheSize: Number.NaN }, 'countryCacheSize'],
    [{ geoip: 'yes' as unknown as boolean }, 'geoip'],
  ])('%j fails, naming the option', (options, option) => {
    try {
      new VisitEnrichment(options);
      expect.unreachable();
    } catch (err) {
      expect(isPlatformError(err, 'PV_CONFIG_INVALID')).toBe(true);
      expect((err as Error).message).toContain(`'${option}'`);
    }
  });

  it('works without caches', async () => {
    const enrichment = new VisitEnrichment({ userAgentCacheSize: 0, countryCacheSize: 0 });
    expect(await enrichment.enrich({ userAgent: CHROME_WINDOWS, clientIp: '8.8.8.8' })).toMatchObject({ browser: 'Chrome', country: 'US' });
  });
});

// Properties: whatever the input, the fields pass the schema and nothing throws.

/** One unit of text: printable ASCII, any code point, a lone surrogate, a control character or an edge case. */
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%00', '%0A', '%ED%A0%80', '%EF%BF%BE', '%C3', '+', '&', '=', '?', '#', '/', '.', ':', '@', '\ufffe', '\u{1fffe}', '\ufeff', 'www.') },
);
const text = (maxLength: number) => fc.array(unit, { maxLength }).map((units) => units.join(''));
const host = fc.oneof(fc.domain(), fc.constantFrom('google.co.uk', 'www.example.com', 'l.facebook.com', 'bücher.example', 'localhost', '127.0.0.1', '[::1]'), text(20));
const param = fc.tuple(fc.constantFrom('utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'source', 'ref', 'x'), text(40));
const query = fc.array(param, { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'));
const url = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.tuple(fc.constantFrom('https://', 'http://', 'android-app://', '//', '', 'file:///', '/'), host, text(20), query).map(([scheme, h, path, q]) => `${scheme}${h}/${path}?${q}`),
  fc.tuple(fc.constantFrom('https://example.com/?', '/p?'), query, fc.nat(2100)).map(([prefix, q, n]) => `${prefix}${q}&utm_term=${'t'.repeat(n)}`),
  text(60),
);
const REAL_AGENTS = [CHROME_WINDOWS, SAFARI_IPHONE, 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', 'curl/8.4.0'];
const userAgent = fc.oneof(
  fc.constantFrom(...REAL_AGENTS),
  fc.tuple(fc.constantFrom(...REAL_AGENTS), text(30), fc.nat(140)).map(([ua, t, n]) => ua.replace('120.0', `${t}${'9'.repeat(n)}`)),
  text(80),
  fc.nat(1200).map((n) => `Mozilla/5.0 ${'x'.repeat(n)}`),
);
const screenWidth = fc.oneof(fc.integer({ min: -10, max: 5000 }), fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0));
const clientIp = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((ip) => `::ffff:${ip}`), text(20));
const context = fc.record({ pageUrl: url, referrer: url, userAgent, screenWidth, clientIp }, { requiredKeys: [] });

describe('VisitEnrichment properties', () => {
  it('every field it derives passes the schema (fast-check)', () => {
    const enrichment = new VisitEnrichment({ geoip: false, userAgentCacheSize: 50 });
    fc.assert(
      fc.property(context, (ctx) => {
        const fields = enrichment.enrichSync(ctx);
        expect(schemaErrors(fields)).toBeNull();
        expect(fields.country).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('a country reaches the event only when it is a code, whatever the database answers (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(clientIp, text(4), async (ip, answer) => {
        const enrichment = new VisitEnrichment({ geoLookup: async () => ({ country: answer, range: [0, 2 ** 32] }) });
        const fields = await enrichment.enrich({ clientIp: ip });
        expect(schemaErrors(fields)).toBeNull();
        if (fields.country !== undefined) expect(fields.country).toBe(answer);
      }),
      { numRuns: 500 },
    );
  });

  it('with fast-geoip, every public IPv4 address gives a valid code or none (fast-check)', async () => {
    const enrichment = new VisitEnrichment();
    await fc.assert(
      fc.asyncProperty(fc.ipV4(), async (ip) => {
        const fields = await enrichment.enrich({ clientIp: ip });
        expect(schemaErrors(fields)).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});
