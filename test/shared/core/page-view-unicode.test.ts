/**
 * Text is valid Unicode everywhere (issue #12): the validator refuses lone surrogates and
 * non-characters in every text field, and the log decoder refuses invalid UTF-8 instead of
 * replacing it with U+FFFD. Examples first, then properties over arbitrary strings.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NOT_UNICODE_TEXT, PAGE_VIEW_LIMITS, decodePageView, validatePageView } from '../../../shared/core/page-view.ts';

const valid = {
  eventId: '4b5c3f2e-8d2b-4a1e-9f3c-1a2b3c4d5e6f',
  pageId: '/pricing',
  visitorId: 'v-1',
  timestamp: '2026-01-31T12:00:00Z',
};

/** The text fields that take free text (site is a slug and eventId a UUID: their patterns refuse any non-ASCII). */
const FREE_TEXT = ['pageId', 'visitorId', 'referrer', 'userAgent'] as const;
type FreeTextField = (typeof FREE_TEXT)[number];

/** An event with `text` in `field` (pageId gets the leading slash it needs). */
const withText = (field: FreeTextField, text: string): Record<string, unknown> => ({ ...valid, [field]: field === 'pageId' ? `/${text}` : text });

const fieldErrors = (input: unknown, field: string): string[] => {
  const result = validatePageView(input);
  return result.ok ? [] : result.errors.filter((e) => e.field === field).map((e) => e.message);
};

describe('validatePageView: valid Unicode text', () => {
  it.each([
    ['a lone high surrogate', 'x\ud800'],
    ['a lone high surrogate at the end', 'x\udbff'],
    ['a lone low surrogate', '\udc00x'],
    ['a low surrogate before a high one', 'x\udc00\ud800y'],
    ['U+FDD0, the first non-character of the block', 'x\ufdd0'],
    ['U+FDEF, the last non-character of the block', 'x\ufdef'],
    ['U+FFFE', 'x\ufffe'],
    ['U+FFFF', 'x\uffff'],
    ['U+1FFFE', 'x\u{1fffe}'],
    ['U+1FFFF', 'x\u{1ffff}'],
    ['U+7FFFE', 'x\u{7fffe}'],
    ['U+10FFFE', 'x\u{10fffe}'],
    ['U+10FFFF', 'x\u{10ffff}'],
  ])('rejects %s in every free-text field, naming the field', (_name, text) => {
    for (const field of FREE_TEXT) {
      expect(fieldErrors(withText(field, text), field), field).toEqual([NOT_UNICODE_TEXT]);
    }
  });

  it('rejects all 66 non-characters and accepts their neighbours, in every plane', () => {
    const nonCharacters: number[] = [];
    for (let cp = 0xfdd0; cp <= 0xfdef; cp++) nonCharacters.push(cp);
    for (let plane = 0; plane <= 0x10; plane++) nonCharacters.push(plane * 0x10000 + 0xfffe, plane * 0x10000 + 0xffff);
    expect(nonCharacters).toHaveLength(66);
    const neighbours = [0xfdcf, 0xfdf0, ...Array.from({ length: 17 }, (_, plane) => plane * 0x10000 + 0xfffd)];
    for (const cp of nonCharacters) expect(fieldErrors(withText('visitorId', `a${String.fromCodePoint(cp)}b`), 'visitorId'), cp.toString(16)).toEqual([NOT_UNICODE_TEXT]);
    for (const cp of neighbours) expect(fieldErrors(withText('visitorId', `a${String.fromCodePoint(cp)}b`), 'visitorId'), cp.toString(16)).toEqual([]);
  });

  it('rejects a lone surrogate in site and eventId too (every text field shares the check)', () => {
    expect(fieldErrors({ ...valid, site: 'shop\ud800' }, 'site')).toContain(NOT_UNICODE_TEXT);
    expect(fieldErrors({ ...valid, eventId: `${valid.eventId.slice(0, -1)}\ud800` }, 'eventId')).toContain(NOT_UNICODE_TEXT);
  });

  it.each([
    ['a surrogate pair (emoji)', 'caf\u00e9-\u{1f600}'],
    ['U+FDCF, just below the non-character block', '\ufdcf'],
    ['U+FDF0, just above it', '\ufdf0'],
    ['U+FFFD, the replacement character', '\ufffd'],
    ['U+FFFC', '\ufffc'],
    ['U+1FFFD, the last character of plane 1', '\u{1fffd}'],
    ['U+10FFFD, the last character of plane 16', '\u{10fffd}'],
    ['U+E000, the first private-use character (after the surrogate range)', '\ue000'],
    ['U+D7FF, the last character before the surrogate range', '\ud7ff'],
    ['U+20000 (a CJK ideograph of plane 2)', '\u{20000}'],
  ])('accepts %s in every free-text field, unchanged', (_name, text) => {
    for (const field of FREE_TEXT) {
      const result = validatePageView(withText(field, text));
      expect(result.ok && result.event[field], field).toBe(field === 'pageId' ? `/${text}` : text);
    }
  });

  it('reports the Unicode error only once per field, after the earlier checks', () => {
    expect(fieldErrors({ ...valid, visitorId: 'a\u0000\ud800' }, 'visitorId')).toEqual(['must not contain control characters']);
    const long = `/${'a'.repeat(PAGE_VIEW_LIMITS.pageIdMaxLength)}\ud800`;
    expect(fieldErrors({ ...valid, pageId: long }, 'pageId')).toEqual([`must be at most ${PAGE_VIEW_LIMITS.pageIdMaxLength} characters, got ${long.length}`]);
  });
});

describe('decodePageView: UTF-8', () => {
  const json = JSON.stringify(valid);
  const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
  /** The valid event with raw bytes spliced into its visitorId (after 'v-'). */
  const spliced = (raw: number[]): Buffer => bytes(json.slice(0, json.indexOf('v-1') + 2), raw, json.slice(json.indexOf('v-1') + 2));

  it.each([
    ['a 0xFF byte', [0xff]],
    ['a lone continuation byte', [0x80]],
    ['a truncated two-byte sequence', [0xc3]],
    ['a truncated three-byte sequence', [0xe2, 0x82]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['an encoded surrogate (CESU-8 / WTF-8)', [0xed, 0xa0, 0x80]],
    ['a code point beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('rejects %s instead of replacing it with U+FFFD', (_name, raw) => {
    expect(decodePageView(spliced(raw))).toEqual({ ok: false, errors: [{ field: '', message: 'not valid UTF-8' }] });
  });

  it('rejects invalid UTF-8 that is also not JSON as invalid UTF-8', () => {
    expect(decodePageView(Buffer.from([0x7b, 0xff, 0xfe, 0x00]))).toEqual({ ok: false, errors: [{ field: '', message: 'not valid UTF-8' }] });
  });

  it('decodes valid multi-byte UTF-8 unchanged, from a Buffer and from a string', () => {
    const text = 'caf\u00e9 \u20ac \u{1f600}';
    const event = { ...valid, visitorId: text };
    for (const value of [Buffer.from(JSON.stringify(event), 'utf8'), JSON.stringify(event)]) {
      const result = decodePageView(value);
      expect(result.ok && result.event.visitorId).toBe(text);
    }
  });

  it('rejects a lone surrogate written as a JSON escape (valid UTF-8, invalid text)', () => {
    const result = decodePageView(Buffer.from(JSON.stringify(valid).replace('/pricing', '/x\\ud800')));
    expect(result).toEqual({ ok: false, errors: [{ field: 'pageId', message: NOT_UNICODE_TEXT }] });
  });

  it('drops a leading UTF-8 byte-order mark, as the HTTP collector does', () => {
    const result = decodePageView(bytes([0xef, 0xbb, 0xbf], json));
    expect(result.ok && result.event.pageId).toBe('/pricing');
  });

  it('keeps working after a failure (the decoder is shared)', () => {
    expect(decodePageView(Buffer.from([0xe2, 0x82])).ok).toBe(false);
    expect(decodePageView(Buffer.from(json)).ok).toBe(true);
  });
});

/**
 * One UTF-16 unit or code point: anything in the Unicode range (so also lone surrogates, as
 * String.fromCodePoint(0xd800) gives one), the edges of the ranges that matter, and ASCII.
 */
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
  { weight: 2, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('\ufdd0', '\ufdef', '\ufdcf', '\ufdf0', '\ufffd', '\ufffe', '\uffff', '\u{1fffe}', '\u{10ffff}', '\u{10fffd}', '\u{1f600}', '\u00e9'),
  },
);
const text = fc.string({ unit, minLength: 1, maxLength: 40 });

/** The oracle, by code point, written apart from the validator's regexes. */
const isUnicodeText = (s: string): boolean => {
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) return false; // a lone surrogate (a pair is one code point here)
    if (cp >= 0xfdd0 && cp <= 0xfdef) return false;
    if ((cp & 0xfffe) === 0xfffe) return false;
  }
  return true;
};
const isControl = (cp: number): boolean => cp < 0x20 || cp === 0x7f;
const hasControl = (s: string): boolean => [...s].some((ch) => isControl(ch.codePointAt(0)!));
const withoutControl = (s: string): string => [...s].filter((ch) => !isControl(ch.codePointAt(0)!)).join('');

describe('validatePageView over arbitrary strings', () => {
  it('accepts a free-text field exactly when it is valid Unicode without control characters', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FREE_TEXT), text, (field, s) => {
        const messages = fieldErrors(withText(field, s), field);
        if (hasControl(s)) expect(messages).toEqual(['must not contain control characters']);
        else expect(messages).toEqual(isUnicodeText(s) ? [] : [NOT_UNICODE_TEXT]);
      }),
      { numRuns: 2000 },
    );
  });

  it('always rejects a string with a lone surrogate, wherever it is', () => {
    const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
    // ASCII around it: nothing that could pair with the surrogate or fail another check.
    const ascii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 20 });
    fc.assert(
      fc.property(fc.constantFrom(...FREE_TEXT), ascii, loneSurrogate, ascii, (field, before, surrogate, after) => {
        const s = `${before}${surrogate}${after}`;
        expect(fieldErrors(withText(field, s), field)).toEqual([NOT_UNICODE_TEXT]);
        // The same event as a log record (JSON escapes the surrogate as \udxxx).
        expect(decodePageView(Buffer.from(JSON.stringify(withText(field, s)))).ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes the UTF-8 of any well-formed string back to the same string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), (s) => {
        const userAgent = `ua ${withoutControl(s)}`;
        const result = decodePageView(Buffer.from(JSON.stringify({ ...valid, userAgent }), 'utf8'));
        if (isUnicodeText(userAgent)) expect(result.ok && result.event.userAgent).toBe(userAgent);
        else expect(!result.ok && result.errors).toEqual([{ field: 'userAgent', message: NOT_UNICODE_TEXT }]);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses exactly the byte sequences that are not UTF-8 (oracle: node:buffer isUtf8)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 8 }), (junk) => {
        const [head, tail] = JSON.stringify(valid).split('v-1') as [string, string];
        const value = Buffer.concat([Buffer.from(`${head}v-`), Buffer.from(junk), Buffer.from(`1${tail}`)]);
        const result = decodePageView(value);
        const notUtf8 = !result.ok && result.errors.some((e) => e.message === 'not valid UTF-8');
        expect(notUtf8).toBe(!isUtf8(value));
      }),
      { numRuns: 2000 },
    );
  });
});
