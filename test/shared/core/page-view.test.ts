import { describe, expect, it } from 'vitest';
import { decodePageView, validatePageView } from '../../../shared/core/page-view.ts';

const valid = {
  eventId: '4b5c3f2e-8d2b-4a1e-9f3c-1a2b3c4d5e6f',
  pageId: '/pricing',
  visitorId: 'v-1',
  timestamp: '2026-01-31T12:00:00Z',
};

describe('validatePageView', () => {
  it('accepts a minimal event and normalises it', () => {
    const result = validatePageView(valid);
    expect(result).toEqual({
      ok: true,
      event: {
        schemaVersion: 1,
        eventId: valid.eventId,
        site: 'default',
        pageId: '/pricing',
        visitorId: 'v-1',
        timestamp: Date.UTC(2026, 0, 31, 12),
      },
    });
  });

  it('accepts epoch ms, an offset time zone, referrer and userAgent', () => {
    const result = validatePageView({ ...valid, timestamp: '2026-01-31T13:00:00+01:00', referrer: 'https://x', userAgent: 'ua', site: 'shop.example', schemaVersion: 1 });
    expect(result.ok && result.event.timestamp).toBe(Date.UTC(2026, 0, 31, 12));
    expect(validatePageView({ ...valid, timestamp: Date.UTC(2026, 0, 1) }).ok).toBe(true);
  });

  it.each([
    ['missing eventId', { ...valid, eventId: undefined }, 'eventId', 'is required'],
    ['eventId not a UUID', { ...valid, eventId: 'abc' }, 'eventId', 'must be a UUID'],
    ['pageId without slash', { ...valid, pageId: 'pricing' }, 'pageId', "must be a path starting with '/'"],
    ['pageId too long', { ...valid, pageId: '/' + 'a'.repeat(2048) }, 'pageId', 'must be at most 2048 characters, got 2049'],
    ['visitorId number', { ...valid, visitorId: 7 }, 'visitorId', 'must be a string, got number'],
    ['empty visitorId', { ...valid, visitorId: '' }, 'visitorId', 'must not be empty'],
    ['control character', { ...valid, visitorId: 'a\u0000b' }, 'visitorId', 'must not contain control characters'],
    ['zone-less time', { ...valid, timestamp: '2026-01-31T12:00:00' }, 'timestamp', 'must be epoch ms or an ISO-8601 date-time with a zone, e.g. 2026-01-31T12:00:00Z'],
    ['fractional epoch', { ...valid, timestamp: 1.5 }, 'timestamp', 'must be an integer number of epoch milliseconds'],
    ['before 2000', { ...valid, timestamp: 0 }, 'timestamp', 'must be between 2000-01-01 and 2100-01-01 UTC'],
    ['bad site', { ...valid, site: "a'b" }, 'site', 'must contain only letters, digits, ".", "_" and "-" and start with a letter or digit'],
    ['unknown field', { ...valid, pageid: '/x' }, 'pageid', 'is not a field of page_view v2'],
    ['unknown version', { ...valid, schemaVersion: 3 }, 'schemaVersion', 'must be 1 or 2, got 3'],
    ['a visit field in a v1 event', { ...valid, schemaVersion: 1, country: 'DE' }, 'country', 'is a field of page_view v2: send schemaVersion 2 (or none)'],
    ['an unknown device', { ...valid, device: 'Phone' }, 'device', 'must be one of Mobile, Tablet, Laptop, Desktop'],
    ['a country in lower case', { ...valid, country: 'de' }, 'country', 'must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE'],
    ['a browser name too long', { ...valid, browser: 'b'.repeat(101) }, 'browser', 'must be at most 100 characters, got 101'],
    ['an empty source', { ...valid, source: '' }, 'source', 'must not be empty'],
  ])('rejects %s with a message naming the field', (_name, input, field, message) => {
    const result = validatePageView(input);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toContainEqual({ field, message });
  });

  it('reads the visit fields of schema v2, and gives an event without a version the lowest that holds its fields', () => {
    const visit = { source: 'Google', utmMedium: 'cpc', utmSource: 'google', utmCampaign: 'spring', utmContent: 'a', utmTerm: 'shoes', device: 'Mobile', browser: 'Chrome', browserVersion: '120.0', os: 'Android', osVersion: '14', country: 'DE' };
    const result = validatePageView({ ...valid, ...visit });
    expect(result).toEqual({ ok: true, event: { schemaVersion: 2, eventId: valid.eventId, site: 'default', pageId: '/pricing', visitorId: 'v-1', timestamp: Date.UTC(2026, 0, 31, 12), ...visit } });
    expect(validatePageView({ ...valid, schemaVersion: 2 })).toMatchObject({ ok: true, event: { schemaVersion: 2 } });
    expect(validatePageView({ ...valid, country: null })).toMatchObject({ ok: true, event: { schemaVersion: 1 } });
  });

  it('reports every problem at once', () => {
    const result = validatePageView({ timestamp: 'x' });
    expect(!result.ok && result.errors.map((e) => e.field).sort()).toEqual(['eventId', 'pageId', 'timestamp', 'visitorId']);
  });

  it.each([null, 'x', 42, [valid]])('rejects a non-object %j', (input) => {
    expect(validatePageView(input)).toEqual({ ok: false, errors: [{ field: '', message: 'event must be a JSON object' }] });
  });
});

describe('decodePageView', () => {
  it('decodes the wire form and reports malformed JSON without throwing', () => {
    expect(decodePageView(Buffer.from(JSON.stringify(valid))).ok).toBe(true);
    const bad = decodePageView(Buffer.from('{not json'));
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.errors[0]?.message).toMatch(/^not valid JSON/);
  });
});
