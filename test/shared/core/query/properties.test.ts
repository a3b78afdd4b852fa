/**
 * Properties and Plausible's filter expressions: parsing (table of accepted and refused
 * filters), matching (against an independent glob matcher), and escaping (property tests).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PROPERTIES,
  eventMatches,
  filterMatches,
  parseFilters,
  propertyNamed,
  propertyValue,
  referrerValue,
  type PropertyFilter,
} from '../../../../shared/core/query/properties.ts';

function parsed(text: string): PropertyFilter[] {
  const result = parseFilters(text);
  if (!result.ok) throw new Error(result.message);
  return result.filters;
}

/** An independent glob matcher: `*` matches any run of characters, by recursion over the pattern's pieces. */
function globMatch(pieces: readonly string[], value: string): boolean {
  const [first = '', ...rest] = pieces;
  if (!value.startsWith(first)) return false;
  if (rest.length === 0) return value === first;
  const tail = value.slice(first.length);
  for (let i = 0; i <= tail.length; i++) if (globMatch(rest, tail.slice(i))) return true;
  return false;
}

const escape = (v: string): string => v.replace(/[\\|;*]/g, (c) => `\\${c}`);

describe('parseFilters', () => {
  it.each([
    ['event:page==/pricing', [{ property: 'event:page', negated: false, values: [['/pricing']] }]],
    ['visit:country!=FR', [{ property: 'visit:country', negated: true, values: [['FR']] }]],
    ['visit:source==Github|Twitter', [{ property: 'visit:source', negated: false, values: [['Github'], ['Twitter']] }]],
    ['visit:source==Google;visit:country==DE', [
      { property: 'visit:source', negated: false, values: [['Google']] },
      { property: 'visit:country', negated: false, values: [['DE']] },
    ]],
    ['event:page==/blog/*', [{ property: 'event:page', negated: false, values: [['/blog/', '']] }]],
    ['event:page==*/edit*', [{ property: 'event:page', negated: false, values: [['', '/edit', '']] }]],
    ['visit:utm_campaign==campaign\\|one', [{ property: 'visit:utm_campaign', negated: false, values: [['campaign|one']] }]],
    ['visit:utm_campaign==a\\;b\\*c\\\\d', [{ property: 'visit:utm_campaign', negated: false, values: [['a;b*c\\d']] }]],
    ['event:page==/a!=b', [{ property: 'event:page', negated: false, values: [['/a!=b']] }]],
    [' visit:device == Mobile ', [{ property: 'visit:device', negated: false, values: [[' Mobile ']] }]],
  ])('reads %j', (text, expected) => {
    expect(
      parsed(text).map((f) => ({ property: f.property.name, negated: f.negated, values: f.values.map((v) => v.pieces) })),
    ).toEqual(expected);
  });

  it.each([
    ['', "empty filter in '': filters are separated by ';'"],
    ['visit:source==Google;', "empty filter in 'visit:source==Google;': filters are separated by ';'"],
    ['visit:source=Google', "filter 'visit:source=Google' must be property==value or property!=value, e.g. visit:source==Google"],
    ['visit:source==', "filter 'visit:source==' has an empty value"],
    ['visit:source==a||b', "filter 'visit:source==a||b' has an empty value"],
    ['visit:planet==Mars', "filter 'visit:planet==Mars': unknown property 'visit:planet': use one of event:page, visit:source, visit:referrer, visit:utm_medium, visit:utm_source, visit:utm_campaign, visit:utm_content, visit:utm_term, visit:device, visit:browser, visit:browser_version, visit:os, visit:os_version, visit:country"],
    ['event:goal==Signup', "filter 'event:goal==Signup': property 'event:goal' is not supported: goals are not supported yet"],
    ['visit:entry_page==/', "filter 'visit:entry_page==/': property 'visit:entry_page' is not supported: filters by entry page are not supported yet (break down by visit:entry_page, with session metrics)"],
    ['event:props:plan==pro', "filter 'event:props:plan==pro': property 'event:props:plan' is not supported: custom properties are not supported yet"],
  ])('refuses %j, saying why', (text, message) => {
    expect(parseFilters(text)).toEqual({ ok: false, message });
  });

  it('refuses more than 20 filters and more than 100 alternatives', () => {
    expect(parseFilters(Array.from({ length: 21 }, () => 'visit:os==Linux').join(';')).ok).toBe(false);
    expect(parseFilters(`visit:os==${Array.from({ length: 101 }, (_, i) => `o${i}`).join('|')}`).ok).toBe(false);
  });
});

describe('filter matching', () => {
  it.each([
    ['event:page==/blog/*', '/blog/', true],
    ['event:page==/blog/*', '/blog/post-1', true],
    ['event:page==/blog/*', '/blog', false],
    ['event:page==/blog*', '/blogroll', true],
    ['event:page==*/edit', '/a/b/edit', true],
    ['event:page==*/edit', '/a/b/edit/x', false],
    ['event:page==/a.b', '/aXb', false],
    ['event:page==/a\\*b', '/a*b', true],
    ['event:page==/a\\*b', '/aXb', false],
    ['visit:source==Github|Twitter', 'Twitter', true],
    ['visit:source!=Github|Twitter', 'Twitter', false],
    ['visit:source!=Github|Twitter', 'Google', true],
    ['visit:country==DE', 'de', false],
  ])('%s on %j: %s', (text, value, expected) => {
    const [filter] = parsed(text) as [PropertyFilter];
    expect(filterMatches(filter, value)).toBe(expected);
  });

  it('any escaped value matches itself exactly, and nothing longer', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), (value) => {
        const [filter] = parsed(`visit:utm_campaign==${escape(value)}`) as [PropertyFilter];
        expect(filterMatches(filter, value)).toBe(true);
        expect(filterMatches(filter, `${value}x`)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('wildcards match as an independent glob matcher does', () => {
    const piece = fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', '|', '\\', ';', '('), maxLength: 4 });
    fc.assert(
      fc.property(fc.array(piece, { minLength: 2, maxLength: 4 }), fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', '|', '\\', ';', '('), maxLength: 10 }), (pieces, value) => {
        const text = pieces.map(escape).join('*');
        fc.pre(text !== '');
        const [filter] = parsed(`event:page==${text}`) as [PropertyFilter];
        expect(filter.values[0]?.pieces).toEqual(pieces);
        expect(filterMatches(filter, value)).toBe(globMatch(pieces, value));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('property values', () => {
  it('names absent values as Plausible does, and shows the referrer without scheme and www', () => {
    const source = propertyNamed('visit:source');
    const referrer = propertyNamed('visit:referrer');
    const device = propertyNamed('visit:device');
    if (!source.ok || !referrer.ok || !device.ok) throw new Error('known properties');
    expect(propertyValue(source.property, { pageId: '/' })).toBe('Direct / None');
    expect(propertyValue(source.property, { pageId: '/', source: 'Google' })).toBe('Google');
    expect(propertyValue(referrer.property, { pageId: '/', referrer: 'https://www.t.co/fzWTE9OTPt' })).toBe('t.co/fzWTE9OTPt');
    expect(propertyValue(device.property, { pageId: '/' })).toBe('(not set)');
    expect(referrerValue('android-app://com.google.android.gm/')).toBe('com.google.android.gm/');
  });

  it('a conjunction of filters holds when each does (direct visits to the blog from Germany)', () => {
    const filters = parsed('visit:source==Direct / None;event:page==/blog/*;visit:country==DE');
    expect(eventMatches(filters, { pageId: '/blog/x', country: 'DE' })).toBe(true);
    expect(eventMatches(filters, { pageId: '/blog/x', country: 'DE', source: 'Google' })).toBe(false);
    expect(eventMatches(filters, { pageId: '/about', country: 'DE' })).toBe(false);
  });

  it('has one definition per property: names unique, every visit field but none twice', () => {
    expect(new Set(PROPERTIES.map((p) => p.name)).size).toBe(PROPERTIES.length);
    expect(new Set(PROPERTIES.map((p) => p.field)).size).toBe(PROPERTIES.length);
  });
});
