/**
 * decodePageView's fast path (issue #13): a log record of the shape encodePageView writes is
 * checked by hand instead of by the schema. It must accept only what the schema accepts, give
 * the same event for it, and leave everything else (and every error message) to the schema.
 *
 * The reference is decodePageViewStrict (strict UTF-8, JSON, then the schema alone). Properties
 * over valid events as the collector writes them, the same events with fields or bytes mutated,
 * and examples for the cases the fast path declines.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEVICES,
  NOT_UNICODE_TEXT,
  PAGE_VIEW_LIMITS as LIMITS,
  decodePageView,
  decodePageViewStrict,
  encodePageView,
  fastDecodePageView,
  validatePageView,
  VISIT_FIELDS,
  type PageView,
  type ValidationResult,
} from '../../../shared/core/page-view.ts';

const ascii = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));

/** Text the schema accepts: printable ASCII, and non-ASCII that JSON writes raw or escapes (" and \). */
const cleanUnit = fc.oneof(
  { weight: 8, arbitrary: ascii },
  {
    weight: 2,
    arbitrary: fc.constantFrom('"', '\\', '/', '\u00e9', '\u20ac', '\u{1f600}', '\u{10fffd}', '\ufffd', '\ufeff', '\u2028', '\ud7ff', '\ue000', '\ufdcf', '\ufdf0', '\u0080'),
  },
);
/** Text with anything in it: lone surrogates, non-characters, control characters (C0 and DEL). */
const anyUnit = fc.oneof(
  { weight: 4, arbitrary: cleanUnit },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\u0009', '\u000a', '\u001f', '\u007f', '\ufdd0', '\ufdef', '\ufffe', '\uffff', '\u{1fffe}', '\u{10ffff}') },
);

/** Valid text of at most `max` UTF-16 units (`prefix` included), sometimes exactly `max` or one less. */
const cleanText = (max: number, prefix = ''): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.string({ unit: cleanUnit, minLength: prefix === '' ? 1 : 0, maxLength: 30 }).map((s) => prefix + s) },
    { weight: 1, arbitrary: fc.constantFrom(max, max - 1).map((n) => prefix + 'x'.repeat(n - prefix.length)) },
  );
const slugChar = fc.constantFrom(...'abcXYZ0129._-');
const validSite = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom('a', 'Z', '0', '9'), fc.string({ unit: slugChar, maxLength: 20 })).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.constantFrom(LIMITS.siteMaxLength, LIMITS.siteMaxLength - 1).map((n) => 's'.repeat(n)) },
);
const validTimestamp = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: LIMITS.minTimestampMs, max: LIMITS.maxTimestampMs - 1 }) },
  { weight: 1, arbitrary: fc.constantFrom(LIMITS.minTimestampMs, LIMITS.maxTimestampMs - 1) },
);

/** A valid event as validatePageView returns it (so as the collector and the generator write it). */
const validEvent: fc.Arbitrary<PageView> = fc
  .record({
    eventId: fc.uuid(),
    site: validSite,
    pageId: cleanText(LIMITS.pageIdMaxLength, '/'),
    visitorId: cleanText(LIMITS.visitorIdMaxLength),
    timestamp: validTimestamp,
    referrer: fc.option(cleanText(LIMITS.referrerMaxLength), { nil: undefined }),
    userAgent: fc.option(cleanText(LIMITS.userAgentMaxLength), { nil: undefined }),
    v2: fc.boolean(),
    source: fc.option(cleanText(LIMITS.visitTextMaxLength), { nil: undefined }),
    utmCampaign: fc.option(cleanText(LIMITS.visitTextMaxLength), { nil: undefined }),
    device: fc.option(fc.constantFrom(...DEVICES), { nil: undefined }),
    browser: fc.option(cleanText(LIMITS.agentTextMaxLength), { nil: undefined }),
    country: fc.option(fc.constantFrom('DE', 'US', 'FR'), { nil: undefined }),
  })
  .map(({ referrer, userAgent, v2, source, utmCampaign, device, browser, country, ...required }) => {
    const event: PageView = { schemaVersion: v2 ? 2 : 1, ...required };
    if (referrer !== undefined) event.referrer = referrer;
    if (userAgent !== undefined) event.userAgent = userAgent;
    if (v2) {
      // The visit fields, in the order the validator writes them (VISIT_FIELDS).
      if (source !== undefined) event.source = source;
      if (utmCampaign !== undefined) event.utmCampaign = utmCampaign;
      if (device !== undefined) event.device = device;
      if (browser !== undefined) event.browser = browser;
      if (country !== undefined) event.country = country;
    }
    return event;
  });

/** Values to put in a field: wrong types, bad text, edge lengths, other timestamps and ids. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(null, true, 0, 1, 2, -1, 1.5, '', '1', 'page_view', '/', [], {}, ['/a'], { a: 1 }),
  fc.string({ unit: anyUnit, minLength: 1, maxLength: 12 }),
  fc.string({ unit: anyUnit, minLength: 1, maxLength: 12 }).map((s) => `/${s}`),
  fc
    .constantFrom(LIMITS.siteMaxLength, LIMITS.visitorIdMaxLength, LIMITS.userAgentMaxLength, LIMITS.pageIdMaxLength)
    .chain((n) => fc.constantFrom(n - 1, n, n + 1))
    .map((n) => `/${'y'.repeat(n - 1)}`),
  fc.constantFrom('-a', '.a', 'a b', 'a/b', 'caf\u00e9', 'a\u0000', 'shop\ud800', 'A.b_c-9'),
  fc.constantFrom('DE', 'de', 'DEU', 'Mobile', 'mobile', 'Phone', 'Desktop', 'c'.repeat(LIMITS.agentTextMaxLength), 'c'.repeat(LIMITS.agentTextMaxLength + 1)),
  fc.constantFrom(
    LIMITS.minTimestampMs - 1,
    LIMITS.minTimestampMs,
    LIMITS.maxTimestampMs - 1,
    LIMITS.maxTimestampMs,
    Date.UTC(2026, 0, 31, 12) + 0.5,
    2 ** 53,
    1e300,
    -Date.UTC(2026, 0, 1),
    '1769860800000',
    '2026-01-31T12:00:00Z',
    '2026-01-31T13:00:00+01:00',
    '2026-01-31T06:30:00.123-05:30',
    '2026-01-31T12:00Z',
    '2026-01-31T12:00:00',
    '2026-13-31T12:00:00Z',
    '1999-12-31T23:59:59.999Z',
    '2000-01-01T01:00:00+01:00',
    '2099-12-31T23:59:59.999Z',
    '2100-01-01T00:00:00Z',
  ),
  fc.uuid().map((id) => id.toUpperCase()),
  fc.uuid().map((id) => `{${id}}`),
  fc.uuid().map((id) => id.replace(/-/g, '')),
  fc.tuple(fc.uuid(), fc.nat(35), fc.constantFrom('g', 'G', '-', '0', ' ', '\u0660')).map(([id, i, c]) => id.slice(0, i) + c + id.slice(i + 1)), // 36 characters, not always a UUID
  fc.integer({ min: LIMITS.minTimestampMs, max: LIMITS.maxTimestampMs - 1 }).map((ms) => new Date(ms).toISOString()),
);
const FIELDS = ['schemaVersion', 'type', 'eventId', 'site', 'pageId', 'visitorId', 'timestamp', 'referrer', 'userAgent', ...VISIT_FIELDS] as const;
const fieldName = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.constantFrom('pageid', 'extra', '__proto__', 'constructor', '') });

type Entry = [key: string, value: unknown];
type Entries = Entry[];
type FieldMutation = (entries: Entries) => Entries;
/** A change to a record's fields, kept as entries so that key order, duplicates and `__proto__` survive. */
const fieldMutation: fc.Arbitrary<FieldMutation> = fc.oneof(
  // Set (or add) a field.
  fc.tuple(fieldName, fieldValue).map(([key, value]): FieldMutation => (entries) => {
    const i = entries.findIndex(([k]) => k === key);
    return i === -1 ? [...entries, [key, value]] : entries.map((e, j): Entry => (j === i ? [key, value] : e));
  }),
  // Remove a field.
  fieldName.map((key): FieldMutation => (entries) => entries.filter(([k]) => k !== key)),
  // A duplicate key first (JSON.parse keeps the last one).
  fc.tuple(fieldName, fieldValue).map(([key, value]): FieldMutation => (entries) => [[key, value], ...entries]),
  // Another key order.
  fc.nat().map((seed): FieldMutation => (entries) => entries.map((e, i) => ({ e, rank: (i * 7919 + seed) % 101 })).sort((a, b) => a.rank - b.rank).map(({ e }) => e)),
);
const toJson = (entries: Entries): string => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;

/** A change to the record's text or bytes. */
type Wire = Buffer | string;
const wireMutation: fc.Arbitrary<(json: string) => Wire> = fc.oneof(
  fc.constant((json: string): Wire => json),
  fc.constant((json: string): Wire => Buffer.from(json, 'utf8')),
  fc.constant((json: string): Wire => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json, 'utf8')])), // UTF-8 BOM (dropped)
  fc.constant((json: string): Wire => `\ufeff${json}`), // a BOM in a string is not dropped: not JSON
  fc.constant((json: string): Wire => ` \n${json}\t `),
  fc.constantFrom('null', '[]', '42', '"x"', 'true', '', '{', '{}').map((other) => (): Wire => other), // not an object, or not JSON
  fc.constant((json: string): Wire => `[${json}]`),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([at, bytes]) => (json: string): Wire => {
    const buf = Buffer.from(json, 'utf8');
    const i = at % (buf.length + 1);
    return Buffer.concat([buf.subarray(0, i), Buffer.from(bytes), buf.subarray(i)]);
  }),
  // A character of a string value written as an escape (\u0061 for a): the same JSON value.
  fc.nat().map((at) => (json: string): Wire => {
    const i = json.indexOf('":"', at % json.length);
    if (i === -1) return json;
    const c = json.charCodeAt(i + 3);
    return c === 0x22 || c === 0x5c ? json : `${json.slice(0, i + 3)}\\u${c.toString(16).padStart(4, '0')}${json.slice(i + 4)}`;
  }),
  // A raw DEL or control character inside a string value.
  fc.tuple(fc.nat(), fc.constantFrom('\u007f', '\u0000', '\u001f')).map(([at, ch]) => (json: string): Wire => {
    const i = json.indexOf('":"', at % json.length);
    return i === -1 ? json : `${json.slice(0, i + 3)}${ch}${json.slice(i + 3)}`;
  }),
);

const entriesOf = (event: PageView): Entries => Object.entries(event);

/** The result compared with the reference: equal values, and the event's keys in the same order. */
function expectSameAsStrict(value: Wire): ValidationResult {
  const strict = decodePageViewStrict(value);
  const result = decodePageView(value);
  expect(result).toStrictEqual(strict);
  if (result.ok && strict.ok) expect(Object.keys(result.event)).toEqual(Object.keys(strict.event));
  const fast = fastDecodePageView(value);
  if (fast !== null) expect(strict).toStrictEqual({ ok: true, event: fast }); // never accepts what the schema rejects
  return strict;
}

describe('decodePageView: the fast path', () => {
  it('decodes every valid event as the collector writes it, to the event itself', () => {
    fc.assert(
      fc.property(validEvent, fc.boolean(), (event, asBuffer) => {
        expect(validatePageView(event)).toStrictEqual({ ok: true, event }); // the arbitrary gives normalised events
        const value = asBuffer ? Buffer.from(encodePageView(event), 'utf8') : encodePageView(event);
        const fast = fastDecodePageView(value);
        expect(fast).toStrictEqual(event);
        expect(Object.keys(fast ?? {})).toEqual(Object.keys(event));
        expect(decodePageView(value)).toStrictEqual({ ok: true, event });
        expectSameAsStrict(value);
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with the schema on records with mutated fields and bytes, accepting or rejecting', () => {
    const seen = { fast: 0, schemaOnly: 0, rejected: 0 };
    fc.assert(
      fc.property(validEvent, fc.array(fieldMutation, { minLength: 1, maxLength: 3 }), wireMutation, (event, mutations, wire) => {
        const value = wire(toJson(mutations.reduce((entries, mutate) => mutate(entries), entriesOf(event))));
        const strict = expectSameAsStrict(value);
        if (!strict.ok) seen.rejected++;
        else if (fastDecodePageView(value) !== null) seen.fast++;
        else seen.schemaOnly++;
      }),
      { numRuns: 5000 },
    );
    // Each way through was taken (the property did not only see rejections).
    expect(seen.fast).toBeGreaterThan(50);
    expect(seen.schemaOnly).toBeGreaterThan(50);
    expect(seen.rejected).toBeGreaterThan(50);
  });

  it('agrees with the schema on arbitrary text in each free-text field', () => {
    const freeText = fc.constantFrom('pageId', 'visitorId', 'referrer', 'userAgent');
    fc.assert(
      fc.property(validEvent, freeText, fc.string({ unit: anyUnit, minLength: 0, maxLength: 30 }), fc.boolean(), (event, field, s, asBuffer) => {
        const json = encodePageView({ ...event, [field]: field === 'pageId' ? `/${s}` : s });
        expectSameAsStrict(asBuffer ? Buffer.from(json, 'utf8') : json);
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with the schema on any number or ISO text as the timestamp', () => {
    const near = (ms: number) => fc.oneof(fc.integer({ min: ms - 2, max: ms + 1 }), fc.double({ min: ms - 2, max: ms + 1, noNaN: true }));
    const timestamp = fc.oneof(
      fc.double(),
      fc.integer(),
      near(LIMITS.minTimestampMs),
      near(LIMITS.maxTimestampMs),
      fc.double({ min: LIMITS.minTimestampMs, max: LIMITS.maxTimestampMs, noNaN: true }),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.tuple(fc.date({ min: new Date(LIMITS.minTimestampMs - 86_400_000), max: new Date(LIMITS.maxTimestampMs + 86_400_000), noInvalidDate: true }), fc.integer({ min: -14, max: 14 })).map(
        ([d, h]) => `${new Date(d.getTime() + h * 3_600_000).toISOString().slice(0, 19)}${h < 0 ? '-' : '+'}${String(Math.abs(h)).padStart(2, '0')}:00`,
      ),
    );
    fc.assert(
      fc.property(validEvent, timestamp, (event, ts) => {
        expectSameAsStrict(Buffer.from(JSON.stringify({ ...event, timestamp: ts })));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with the schema on arbitrary JSON values and bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'), fc.string({ unit: anyUnit })), (text) => {
        expectSameAsStrict(text);
        expectSameAsStrict(Buffer.from(text, 'utf8'));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        expectSameAsStrict(Buffer.from(bytes));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('decodePageView: records the fast path leaves to the schema', () => {
  const event: PageView = {
    schemaVersion: 1,
    eventId: '4b5c3f2e-8d2b-4a1e-9f3c-1a2b3c4d5e6f',
    site: 'default',
    pageId: '/pricing',
    visitorId: 'v-1',
    timestamp: Date.UTC(2026, 0, 31, 12),
    referrer: 'https://example.org/',
    userAgent: 'Mozilla/5.0',
  };
  const json = encodePageView(event);

  it('takes the fast path for the collector\'s own form, with or without the optional fields', () => {
    expect(fastDecodePageView(Buffer.from(json))).toStrictEqual(event);
    const { referrer: _r, userAgent: _u, ...required } = event;
    expect(fastDecodePageView(encodePageView(required))).toStrictEqual(required);
    // Text JSON has to escape is checked field by field rather than over the whole record.
    const quoted = { ...event, userAgent: 'Mozilla/5.0 "quoted" \\ \u00e9' };
    expect(fastDecodePageView(encodePageView(quoted))).toStrictEqual(quoted);
  });

  it.each([
    ['site', LIMITS.siteMaxLength, 's'],
    ['pageId', LIMITS.pageIdMaxLength, '/'],
    ['visitorId', LIMITS.visitorIdMaxLength, 'v'],
    ['referrer', LIMITS.referrerMaxLength, 'r'],
    ['userAgent', LIMITS.userAgentMaxLength, 'u'],
  ] as const)('takes the fast path for %s up to its length limit only', (field, max, first) => {
    for (const length of [0, 1, 2, max - 1, max, max + 1]) {
      const value = Buffer.from(encodePageView({ ...event, [field]: first.repeat(Math.min(length, 1)) + 'x'.repeat(Math.max(0, length - 1)) }));
      expect(fastDecodePageView(value) !== null, `${field} of ${length}`).toBe(length >= 1 && length <= max);
      expect(expectSameAsStrict(value).ok, `${field} of ${length}`).toBe(length >= 1 && length <= max);
    }
  });

  it.each([
    ['an ISO timestamp', { ...event, timestamp: '2026-01-31T13:00:00+01:00' }],
    ['no schemaVersion', { ...event, schemaVersion: undefined }],
    ['a type field', { ...event, type: 'page_view' }],
    ['a null site', { ...event, site: null }],
    ['no site', { ...event, site: undefined }],
    ['a null referrer', { ...event, referrer: null }],
    ['an eventId in upper case', { ...event, eventId: event.eventId.toUpperCase() }],
  ])('accepts a record with %s through the schema, as before', (_name, input) => {
    const value = JSON.stringify(input);
    expect(fastDecodePageView(value)).toBeNull();
    const result = decodePageView(value);
    expect(result.ok).toBe(true);
    expect(result).toStrictEqual(decodePageViewStrict(value));
    expect(result).toStrictEqual(validatePageView(JSON.parse(value)));
  });

  it.each([
    ['a DEL character in userAgent', json.replace('Mozilla/5.0', 'Mozilla\u007f/5.0'), 'userAgent', 'must not contain control characters'],
    ['an escaped control character in visitorId', json.replace('v-1', 'v\\u0000'), 'visitorId', 'must not contain control characters'],
    ['an escaped lone surrogate in pageId', json.replace('/pricing', '/x\\ud800'), 'pageId', NOT_UNICODE_TEXT],
    ['a raw lone surrogate in a string record', json.replace('/pricing', '/x\ud800'), 'pageId', NOT_UNICODE_TEXT],
    ['a non-character in referrer', json.replace('example.org', 'example\u{10ffff}.org'), 'referrer', NOT_UNICODE_TEXT],
    ['an unknown field', json.replace('"site"', '"extra":1,"site"'), 'extra', 'is not a field of page_view v2'],
    ['a timestamp at 2100-01-01', json.replace(String(event.timestamp), String(LIMITS.maxTimestampMs)), 'timestamp', 'must be between 2000-01-01 and 2100-01-01 UTC'],
    ['an eventId with a non-hex digit', json.replace(event.eventId, `${event.eventId.slice(0, 35)}g`), 'eventId', 'must be a UUID'],
    ['a fractional timestamp', json.replace(String(event.timestamp), `${event.timestamp}.5`), 'timestamp', 'must be an integer number of epoch milliseconds'],
    ['an empty userAgent', json.replace('Mozilla/5.0', ''), 'userAgent', 'must not be empty'],
  ])('rejects a record with %s with the schema\'s message', (_name, value, field, message) => {
    expect(fastDecodePageView(value)).toBeNull();
    expect(decodePageView(value)).toEqual({ ok: false, errors: [{ field, message }] });
    expectSameAsStrict(value);
  });

  it('rejects invalid UTF-8 and JSON with the reference\'s messages', () => {
    for (const value of [Buffer.from([0x7b, 0xff, 0x7d]), Buffer.from('{"a":'), '']) {
      expect(fastDecodePageView(value)).toBeNull();
      expectSameAsStrict(value);
    }
  });
});
