/**
 * The properties a query can break down or filter by, with Plausible's Stats API v1 names, and
 * the filter expressions of its `filters` parameter. One definition for every reader: which event
 * field a property reads, how an absent value is named, and what a filter matches.
 *
 * Filter syntax (Plausible's): `property==value` or `property!=value`; `a|b` for alternatives
 * (a literal `|` is written `\|`); `;` between filters (all must hold); `*` in a value matches any
 * run of characters (`event:page==/blog/*`). A property the platform does not know, or does not
 * have yet, is refused with a message naming it: never ignored.
 */
import type { PageView, VisitField } from '../page-view.ts';

/** The event fields a property reads: the page, the referrer, or a visit field (schema v2). */
export type PropertyField = 'pageId' | 'referrer' | VisitField;

export interface PropertyDefinition {
  /** Plausible's name, e.g. `visit:source`. */
  readonly name: string;
  readonly field: PropertyField;
  /** The value of events without the field, as Plausible names it (breakdowns show it; filters match it). */
  readonly absent: string;
  readonly description: string;
}

const NOT_SET = '(not set)';

/** The properties, in the order the API documents them. */
export const PROPERTIES = [
  { name: 'event:page', field: 'pageId', absent: NOT_SET, description: 'The page path.' },
  { name: 'visit:source', field: 'source', absent: 'Direct / None', description: 'Where the visit came from: a known name, the referrer host, or utm_source.' },
  { name: 'visit:referrer', field: 'referrer', absent: 'Direct / None', description: 'The referrer without its scheme and leading www.' },
  { name: 'visit:utm_medium', field: 'utmMedium', absent: NOT_SET, description: 'utm_medium of the page URL.' },
  { name: 'visit:utm_source', field: 'utmSource', absent: NOT_SET, description: 'utm_source of the page URL.' },
  { name: 'visit:utm_campaign', field: 'utmCampaign', absent: NOT_SET, description: 'utm_campaign of the page URL.' },
  { name: 'visit:utm_content', field: 'utmContent', absent: NOT_SET, description: 'utm_content of the page URL.' },
  { name: 'visit:utm_term', field: 'utmTerm', absent: NOT_SET, description: 'utm_term of the page URL.' },
  { name: 'visit:device', field: 'device', absent: NOT_SET, description: 'Mobile, Tablet, Laptop or Desktop.' },
  { name: 'visit:browser', field: 'browser', absent: NOT_SET, description: 'Browser name.' },
  { name: 'visit:browser_version', field: 'browserVersion', absent: NOT_SET, description: 'Browser version (major.minor).' },
  { name: 'visit:os', field: 'os', absent: NOT_SET, description: 'Operating system name.' },
  { name: 'visit:os_version', field: 'osVersion', absent: NOT_SET, description: 'Operating system version (major.minor).' },
  { name: 'visit:country', field: 'country', absent: NOT_SET, description: 'ISO 3166-1 alpha-2 country code.' },
] as const satisfies readonly PropertyDefinition[];

export type PropertyName = (typeof PROPERTIES)[number]['name'];

const BY_NAME: ReadonlyMap<string, PropertyDefinition> = new Map(PROPERTIES.map((p) => [p.name, p]));

/** Plausible properties the platform does not have (yet), with why: a query naming one is refused with this. */
const NOT_SUPPORTED: Readonly<Record<string, string>> = {
  'event:goal': 'goals are not supported yet',
  'event:hostname': 'the hostname is not recorded',
  'event:name': 'custom events are not supported yet',
  'visit:entry_page': 'filters by entry page are not supported yet (break down by visit:entry_page, with session metrics)',
  'visit:exit_page': 'filters by exit page are not supported yet (break down by visit:exit_page, with session metrics)',
  'visit:region': 'regions are not recorded (countries are)',
  'visit:city': 'cities are not recorded (countries are)',
};

export type PropertyLookup = { ok: true; property: PropertyDefinition } | { ok: false; message: string };

/** The property named `name`, or why it cannot be used. */
export function propertyNamed(name: string): PropertyLookup {
  const property = BY_NAME.get(name);
  if (property !== undefined) return { ok: true, property };
  const why = NOT_SUPPORTED[name] ?? (name.startsWith('event:props:') ? 'custom properties are not supported yet' : undefined);
  if (why !== undefined) return { ok: false, message: `property '${name}' is not supported: ${why}` };
  return { ok: false, message: `unknown property '${name}': use one of ${PROPERTIES.map((p) => p.name).join(', ')}` };
}

/** The referrer as Plausible shows it: without the scheme and a leading `www.`. */
export function referrerValue(referrer: string): string {
  return referrer.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/^www\./i, '');
}

/** The value of a property for an event (its `absent` name when the event lacks the field). */
export function propertyValue(property: PropertyDefinition, event: Pick<PageView, PropertyField>): string {
  const value = event[property.field];
  if (value === undefined || value === '') return property.absent;
  return property.field === 'referrer' ? referrerValue(value) : value;
}

/**
 * One alternative of a filter: the literal pieces between its wildcards. `['/blog/', '']` is
 * `/blog/*`; one piece is an exact value. (Unambiguous whatever the value holds, and easy to turn
 * into a regular expression or a SQL LIKE pattern.)
 */
export interface FilterValue {
  pieces: string[];
}

/** One filter: the events whose value of `property` matches one of `values` (or none of them, when negated). */
export interface PropertyFilter {
  property: PropertyDefinition;
  negated: boolean;
  values: FilterValue[];
}

export type FiltersParse = { ok: true; filters: PropertyFilter[] } | { ok: false; message: string };

/** Most filters in one query, and alternatives in one filter. */
export const FILTER_LIMITS = { filters: 20, alternatives: 100 } as const;

/** Splits on `separator` where it is not escaped with a backslash (escapes are kept). */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      current += c + (text[i + 1] as string);
      i += 1;
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/** An alternative as written: escapes (`\|`, `\;`, `\*`, `\\`) resolved, unescaped `*` as wildcards. */
function filterValue(raw: string): FilterValue {
  const pieces = [''];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === '\\' && i + 1 < raw.length) {
      pieces[pieces.length - 1] += raw[i + 1] as string;
      i += 1;
    } else if (c === '*') pieces.push('');
    else pieces[pieces.length - 1] += c;
  }
  return { pieces };
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What a filter's alternatives match, as both the query module and SQL use it: exact values, and
 * one regular expression (RE2 and JavaScript alike: anchored, `.` matching newlines) for the
 * alternatives with wildcards; null when there are none.
 */
export function filterPatterns(filter: PropertyFilter): { exact: string[]; pattern: string | null } {
  const wild = filter.values.filter((v) => v.pieces.length > 1);
  return {
    exact: filter.values.filter((v) => v.pieces.length === 1).map((v) => v.pieces[0] as string),
    pattern: wild.length === 0 ? null : `^(?:${wild.map((v) => v.pieces.map(escapeRegExp).join('.*')).join('|')})$`,
  };
}

const matchers = new WeakMap<PropertyFilter, (value: string) => boolean>();

/** Whether a property value passes a filter. */
export function filterMatches(filter: PropertyFilter, value: string): boolean {
  let match = matchers.get(filter);
  if (match === undefined) {
    const { exact, pattern } = filterPatterns(filter);
    const values = new Set(exact);
    const re = pattern === null ? null : new RegExp(pattern, 's');
    match = (v) => values.has(v) || (re !== null && re.test(v));
    matchers.set(filter, match);
  }
  return match(value) !== filter.negated;
}

/** Whether an event passes every filter. */
export function eventMatches(filters: readonly PropertyFilter[], event: Pick<PageView, PropertyField>): boolean {
  return filters.every((f) => filterMatches(f, propertyValue(f.property, event)));
}

/**
 * Parses Plausible's `filters` parameter, e.g. `visit:source==Google|Bing;event:page==/blog/*`.
 * Every problem is a message naming the filter it is in.
 */
export function parseFilters(text: string): FiltersParse {
  // Values are taken as written (a trailing space is part of one); only the property may be padded.
  const parts = splitUnescaped(text, ';').map((p) => p.trimStart());
  if (parts.length > FILTER_LIMITS.filters) return { ok: false, message: `at most ${FILTER_LIMITS.filters} filters, got ${parts.length}` };
  const filters: PropertyFilter[] = [];
  for (const part of parts) {
    if (part.trim() === '') return { ok: false, message: `empty filter in '${text}': filters are separated by ';'` };
    const op = /^([a-z_]+:[A-Za-z0-9_:]+?)\s*(==|!=)(.*)$/s.exec(part);
    if (op === null) return { ok: false, message: `filter '${part}' must be property==value or property!=value, e.g. visit:source==Google` };
    const [, name = '', operator, rawValues = ''] = op;
    const lookup = propertyNamed(name);
    if (!lookup.ok) return { ok: false, message: `filter '${part}': ${lookup.message}` };
    const alternatives = splitUnescaped(rawValues, '|');
    if (alternatives.length > FILTER_LIMITS.alternatives) return { ok: false, message: `filter '${part}': at most ${FILTER_LIMITS.alternatives} alternatives` };
    if (alternatives.some((a) => a === '')) return { ok: false, message: `filter '${part}' has an empty value` };
    filters.push({ property: lookup.property, negated: operator === '!=', values: alternatives.map(filterValue) });
  }
  return { ok: true, filters };
}
