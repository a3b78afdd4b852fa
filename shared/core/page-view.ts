/**
 * The `page_view` event: the one definition of what a page view is, used by the collector,
 * the speed layer, the batch layer and the generator alike.
 *
 * On the wire (HTTP and the log) an event is JSON. `timestamp` may be epoch ms or an
 * ISO-8601 string with an explicit UTC offset; the validator normalises it to epoch ms.
 *
 * Schema versions (docs/event-log.md has the table of fields per version):
 * - v1: eventId, site, pageId, visitorId, timestamp, referrer, userAgent.
 * - v2: v1 plus the visit fields the collector derives once ({@link VISIT_FIELDS}: source,
 *   UTM, device, browser, OS, country). All optional: absent means unknown or none. A v1
 *   record in the log stays valid and reads as a v2 event with no visit fields; a visit field
 *   in a record that says v1 is refused, so a version always tells what a record may hold.
 */

import { z } from 'zod';

/** The version the collector writes. Records of every version up to it stay readable. */
export const PAGE_VIEW_SCHEMA_VERSION = 2;
export type PageViewSchemaVersion = 1 | 2;
export const DEFAULT_SITE = 'default';

/** Limits on field sizes: a value beyond them is rejected, never truncated. */
export const PAGE_VIEW_LIMITS = {
  siteMaxLength: 100,
  pageIdMaxLength: 2048,
  visitorIdMaxLength: 200,
  referrerMaxLength: 2048,
  userAgentMaxLength: 1024,
  /** Earliest accepted event time: 2000-01-01T00:00:00Z. */
  minTimestampMs: Date.UTC(2000, 0, 1),
  /** Latest accepted event time: 2100-01-01T00:00:00Z. Future skew is the speed layer's policy. */
  maxTimestampMs: Date.UTC(2100, 0, 1),
  /** Source and UTM values: as long as the URL or referrer they come from may be. */
  visitTextMaxLength: 2048,
  /** Browser and OS names and versions. */
  agentTextMaxLength: 100,
} as const;

/** Device classes, from the screen width (or the user agent when no width was sent). */
export const DEVICES = ['Mobile', 'Tablet', 'Laptop', 'Desktop'] as const;
export type Device = (typeof DEVICES)[number];

/**
 * The visit fields of schema v2, derived once by the collector (collector/enrichment) so that
 * both layers read the same values. Each is optional: absent means unknown or none (a visit
 * with no referrer and no `utm_source` has no source: "Direct / None").
 */
export interface VisitFields {
  /** Where the visit came from: a well-known name ("Google") or the referrer's host; `utm_source` overrides it. */
  source?: string;
  utmMedium?: string;
  utmSource?: string;
  utmCampaign?: string;
  utmContent?: string;
  utmTerm?: string;
  device?: Device;
  browser?: string;
  browserVersion?: string;
  os?: string;
  osVersion?: string;
  /** ISO 3166-1 alpha-2, upper case. */
  country?: string;
}

/** The names of the visit fields, in the order events and raw rows carry them. */
export const VISIT_FIELDS = [
  'source',
  'utmMedium',
  'utmSource',
  'utmCampaign',
  'utmContent',
  'utmTerm',
  'device',
  'browser',
  'browserVersion',
  'os',
  'osVersion',
  'country',
] as const satisfies readonly (keyof VisitFields)[];
export type VisitField = (typeof VISIT_FIELDS)[number];

/** A validated, normalised page view. */
export interface PageView extends VisitFields {
  schemaVersion: PageViewSchemaVersion;
  eventId: string;
  site: string;
  /** The page's path, e.g. `/pricing`. Always starts with `/`. */
  pageId: string;
  visitorId: string;
  /** Event time, epoch ms (UTC). */
  timestamp: number;
  referrer?: string;
  userAgent?: string;
}

export interface FieldError {
  field: string;
  message: string;
}

export type ValidationResult = { ok: true; event: PageView } | { ok: false; errors: FieldError[] };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ISO-8601 date-time with an explicit zone (Z or ±hh:mm); a zone-less time is ambiguous. */
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
/** Site ids are slugs: they appear in URLs and metrics labels. The one definition (events, query parameters, OpenAPI). */
export const SITE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** ISO 3166-1 alpha-2, upper case. */
export const COUNTRY_PATTERN = /^[A-Z]{2}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
/**
 * Unicode non-characters: U+FDD0–U+FDEF, U+FFFE, U+FFFF, and U+xxFFFE/U+xxFFFF of planes 1–16
 * (the high surrogate of plane p's last 1,024 code points is 0xD83F + 0x40·(p − 1), followed by
 * the low surrogate 0xDFFE or 0xDFFF). Written over UTF-16 units without the `u` flag: it is
 * applied only to well-formed strings, where a high surrogate is always followed by a low one.
 */
const NONCHARACTER_RE =
  /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;
/**
 * `String.prototype.isWellFormed` is ES2024 and in Node 20; tsconfig's lib stays ES2023 because
 * the rest of ES2024 (Object.groupBy, Promise.withResolvers) is not.
 */
type WellFormedString = string & { isWellFormed(): boolean };
/** The field error for text with a lone surrogate or a non-character. */
export const NOT_UNICODE_TEXT = 'must be valid Unicode text (no lone surrogates or non-characters)';

/** No lone surrogate and no non-character. */
const isUnicodeText = (v: string): boolean => (v as WellFormedString).isWellFormed() && !NONCHARACTER_RE.test(v);

export function parseTimestamp(value: unknown): number | string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return 'must be an integer number of epoch milliseconds';
    return value;
  }
  if (typeof value === 'string') {
    if (!ISO_RE.test(value)) return 'must be epoch ms or an ISO-8601 date-time with a zone, e.g. 2026-01-31T12:00:00Z';
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) return 'is not a valid date-time';
    return ms;
  }
  return 'is required (epoch ms or ISO-8601 string)';
}

/** A time given as text (query string, CLI flag): digits are epoch ms, anything else ISO-8601. */
export function parseTimeText(text: string): number | string {
  return parseTimestamp(/^\d+$/.test(text) ? Number(text) : text);
}

/**
 * A text field: present, a string, not empty, at most `max` characters (UTF-16 units), no
 * control characters, valid Unicode (no lone surrogates, which no store can hold as UTF-8, and
 * no non-characters). One check rather than four (this runs for every event of the log); the
 * lengths reach the OpenAPI document through the metadata.
 */
function textField(max: number) {
  return z
    .string({ error: (iss) => (iss.input === undefined || iss.input === null ? 'is required' : `must be a string, got ${typeof iss.input}`) })
    .check((ctx) => {
      const v = ctx.value;
      const problem =
        v.length === 0
          ? 'must not be empty'
          : v.length > max
            ? `must be at most ${max} characters, got ${v.length}`
            : CONTROL_RE.test(v)
              ? 'must not contain control characters'
              : !isUnicodeText(v)
                ? NOT_UNICODE_TEXT
                : null;
      if (problem !== null) ctx.issues.push({ code: 'custom', message: problem, input: v, continue: false });
    })
    .meta({ minLength: 1, maxLength: max });
}

const RANGE_MESSAGE = 'must be between 2000-01-01 and 2100-01-01 UTC';
const inRange = (ms: number): boolean => ms >= PAGE_VIEW_LIMITS.minTimestampMs && ms < PAGE_VIEW_LIMITS.maxTimestampMs;

/**
 * Epoch ms, or ISO-8601 with a zone; within [2000, 2100). One check (this runs for every
 * event of the log); its OpenAPI form is given as metadata.
 */
const timestampField = z
  .custom<number | string>((v) => typeof v === 'number' || typeof v === 'string', {
    error: (iss) => (iss.input === undefined || iss.input === null ? 'is required (epoch ms or ISO-8601 string)' : parseTimestamp(iss.input) as string),
  })
  .check((ctx) => {
    const ts = parseTimestamp(ctx.value);
    const problem = typeof ts === 'string' ? ts : inRange(ts) ? null : RANGE_MESSAGE;
    if (problem !== null) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value, continue: false });
  })
  .meta({ oneOf: [{ type: 'integer', description: 'epoch ms' }, { type: 'string', format: 'date-time' }] });

/**
 * Event schema v1 as it arrives (HTTP body, log record): the one declaration that gives the
 * validator, the `PageView` type it produces (via {@link validatePageView}) and the OpenAPI
 * `PageView` component. Unknown fields are rejected so that typos do not pass silently.
 * Optional fields may be null (= absent).
 */
export const PAGE_VIEW_INPUT = z.strictObject(
  {
    schemaVersion: z.union([z.literal(1), z.literal(2)], { error: (iss) => `must be 1 or 2, got ${JSON.stringify(iss.input)}` }).optional(),
    type: z.literal('page_view', { error: "must be 'page_view' when given" }).optional(),
    eventId: textField(36).regex(UUID_RE, { error: 'must be a UUID' }).meta({ description: 'A UUID; redeliveries with the same id count once in the batch views.' }),
    site: textField(PAGE_VIEW_LIMITS.siteMaxLength)
      .regex(SITE_PATTERN, { error: 'must contain only letters, digits, ".", "_" and "-" and start with a letter or digit' })
      .nullish()
      .meta({ description: `Site id (default '${DEFAULT_SITE}').` }),
    pageId: textField(PAGE_VIEW_LIMITS.pageIdMaxLength).startsWith('/', { error: "must be a path starting with '/'" }).meta({ description: "The page's path, e.g. /pricing." }),
    visitorId: textField(PAGE_VIEW_LIMITS.visitorIdMaxLength),
    timestamp: timestampField.meta({ description: 'Event time: epoch ms, or ISO-8601 with a zone.' }),
    referrer: textField(PAGE_VIEW_LIMITS.referrerMaxLength).nullish(),
    userAgent: textField(PAGE_VIEW_LIMITS.userAgentMaxLength).nullish(),
    // Schema v2: the visit fields.
    source: textField(PAGE_VIEW_LIMITS.visitTextMaxLength).nullish(),
    utmMedium: textField(PAGE_VIEW_LIMITS.visitTextMaxLength).nullish(),
    utmSource: textField(PAGE_VIEW_LIMITS.visitTextMaxLength).nullish(),
    utmCampaign: textField(PAGE_VIEW_LIMITS.visitTextMaxLength).nullish(),
    utmContent: textField(PAGE_VIEW_LIMITS.visitTextMaxLength).nullish(),
    utmTerm: textField(PAGE_VIEW_LIMITS.visitTextMaxLength).nullish(),
    device: z.enum(DEVICES, { error: `must be one of ${DEVICES.join(', ')}` }).nullish(),
    browser: textField(PAGE_VIEW_LIMITS.agentTextMaxLength).nullish(),
    browserVersion: textField(PAGE_VIEW_LIMITS.agentTextMaxLength).nullish(),
    os: textField(PAGE_VIEW_LIMITS.agentTextMaxLength).nullish(),
    osVersion: textField(PAGE_VIEW_LIMITS.agentTextMaxLength).nullish(),
    country: z.string().regex(COUNTRY_PATTERN, { error: 'must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE' }).nullish(),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? 'event must be a JSON object' : undefined) },
);

/** Validates one incoming event: every problem at once, each naming its field. */
export function validatePageView(input: unknown): ValidationResult {
  const result = PAGE_VIEW_INPUT.safeParse(input);
  if (!result.success) {
    const errors: FieldError[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) errors.push({ field: key, message: `is not a field of page_view v${PAGE_VIEW_SCHEMA_VERSION}` });
      } else errors.push({ field: issue.path.map(String).join('.'), message: issue.message });
    }
    return { ok: false, errors };
  }
  const e = result.data;
  const visitFieldsGiven = VISIT_FIELDS.filter((f) => e[f] !== undefined && e[f] !== null);
  if (e.schemaVersion === 1 && visitFieldsGiven.length > 0) {
    return { ok: false, errors: visitFieldsGiven.map((field) => ({ field, message: 'is a field of page_view v2: send schemaVersion 2 (or none)' })) };
  }
  const event: PageView = {
    // Without a version, the lowest that holds the fields given.
    schemaVersion: e.schemaVersion ?? (visitFieldsGiven.length > 0 ? 2 : 1),
    eventId: e.eventId.toLowerCase(),
    site: e.site ?? DEFAULT_SITE,
    pageId: e.pageId,
    visitorId: e.visitorId,
    timestamp: parseTimestamp(e.timestamp) as number, // checked above
  };
  if (e.referrer !== undefined && e.referrer !== null) event.referrer = e.referrer;
  if (e.userAgent !== undefined && e.userAgent !== null) event.userAgent = e.userAgent;
  for (const field of visitFieldsGiven) (event as unknown as Record<VisitField, unknown>)[field] = e[field];
  return { ok: true, event };
}

/** The log's wire form of a validated event (what the collector and generator append). */
export function encodePageView(event: PageView): string {
  return JSON.stringify(event);
}

/**
 * Rejects invalid UTF-8 instead of replacing it with U+FFFD (which would count a corrupted event
 * as valid). A leading byte-order mark is dropped, as the collector's JSON body parser does.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A log record's value as JSON: its text (strict UTF-8) and what that text parses to. */
type ParsedRecord = { ok: true; text: string; json: unknown } | { ok: false; errors: FieldError[] };

function parseRecord(value: Buffer | string): ParsedRecord {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    try {
      text = UTF8.decode(value);
    } catch {
      return { ok: false, errors: [{ field: '', message: 'not valid UTF-8' }] };
    }
  }
  try {
    return { ok: true, text, json: JSON.parse(text) };
  } catch (err) {
    return { ok: false, errors: [{ field: '', message: `not valid JSON: ${(err as Error).message}` }] };
  }
}

/** {@link UUID_RE} in lower case only, as validatePageView writes ids (a loop: cheaper than the regex here). */
function isLowerCaseUuid(s: string): boolean {
  if (s.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = s.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false; // -
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false; // 0-9, a-f
  }
  return true;
}

/**
 * Whether no string value of the JSON `text` can fail the text checks of {@link textField}
 * (control characters, lone surrogates, non-characters), checked once over the text rather than
 * per field. Without a backslash in the text every string value is a piece of it between two
 * quotes, so it has no control character (JSON forbids them raw; DEL may be raw, and is looked
 * for), no lone surrogate (a well-formed text cannot be split inside a pair at a quote) and no
 * non-character.
 */
const hasOnlyPlainText = (text: string): boolean => text.indexOf('\\') === -1 && text.indexOf('\u007f') === -1 && isUnicodeText(text);

/** A text value that passes {@link textField}'s text checks (its length is checked apart). */
const isPlainTextValue = (v: string): boolean => !CONTROL_RE.test(v) && isUnicodeText(v);

/**
 * The page view in a record of exactly the shape {@link encodePageView} writes, or null when the
 * record is anything else: then {@link PAGE_VIEW_INPUT} decides, and gives the reasons.
 *
 * Accepts only what the schema accepts, and returns what {@link validatePageView} returns for it.
 * The shape: the fields of {@link PageView}, none null, schemaVersion 1 or 2 (visit fields only in 2), an eventId in lower case
 * and an epoch-ms timestamp, with the schema's lengths and patterns (no `type`, no ISO timestamp).
 */
function fastPageView(text: string, json: unknown): PageView | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  for (const key in json) {
    switch (key) {
      case 'schemaVersion':
      case 'eventId':
      case 'site':
      case 'pageId':
      case 'visitorId':
      case 'timestamp':
      case 'referrer':
      case 'userAgent':
        break;
      default:
        if (VISIT_FIELD_SET.has(key)) break;
        return null; // `type`, or not a field at all
    }
  }
  const { schemaVersion, eventId, site, pageId, visitorId, timestamp, referrer, userAgent } = json as { [K in keyof PageView]?: unknown };
  if (schemaVersion !== 1 && schemaVersion !== 2) return null;
  // The patterns of eventId and site admit only ASCII letters, digits and punctuation: no text check needed.
  if (typeof eventId !== 'string' || !isLowerCaseUuid(eventId)) return null;
  if (typeof site !== 'string' || site.length > PAGE_VIEW_LIMITS.siteMaxLength || !SITE_PATTERN.test(site)) return null;
  if (typeof pageId !== 'string' || pageId.length > PAGE_VIEW_LIMITS.pageIdMaxLength || pageId.charCodeAt(0) !== 0x2f) return null;
  if (typeof visitorId !== 'string' || visitorId.length === 0 || visitorId.length > PAGE_VIEW_LIMITS.visitorIdMaxLength) return null;
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || !inRange(timestamp)) return null;
  if (referrer !== undefined && (typeof referrer !== 'string' || referrer.length === 0 || referrer.length > PAGE_VIEW_LIMITS.referrerMaxLength)) return null;
  if (userAgent !== undefined && (typeof userAgent !== 'string' || userAgent.length === 0 || userAgent.length > PAGE_VIEW_LIMITS.userAgentMaxLength)) return null;
  const onlyPlainText = hasOnlyPlainText(text);
  const plainText =
    onlyPlainText ||
    (isPlainTextValue(pageId) && isPlainTextValue(visitorId) && (referrer === undefined || isPlainTextValue(referrer)) && (userAgent === undefined || isPlainTextValue(userAgent)));
  if (!plainText) return null;

  // Built as validatePageView builds it (same fields, same order); the id is in lower case already.
  const event: PageView = { schemaVersion, eventId, site, pageId, visitorId, timestamp };
  if (referrer !== undefined) event.referrer = referrer;
  if (userAgent !== undefined) event.userAgent = userAgent;
  const fields = json as Record<string, unknown>;
  for (const field of VISIT_FIELDS) {
    const value = fields[field];
    if (value === undefined) continue;
    if (schemaVersion === 1 || !isVisitValue(field, value) || !(onlyPlainText || isPlainTextValue(value))) return null;
    (event as unknown as Record<VisitField, string>)[field] = value;
  }
  return event;
}

const VISIT_FIELD_SET: ReadonlySet<string> = new Set(VISIT_FIELDS);
const DEVICE_SET: ReadonlySet<unknown> = new Set(DEVICES);

/** Whether `value` is what {@link PAGE_VIEW_INPUT} accepts for a visit field (its text checks apart). */
function isVisitValue(field: VisitField, value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0) return false;
  switch (field) {
    case 'device':
      return DEVICE_SET.has(value);
    case 'country':
      return COUNTRY_PATTERN.test(value);
    case 'browser':
    case 'browserVersion':
    case 'os':
    case 'osVersion':
      return value.length <= PAGE_VIEW_LIMITS.agentTextMaxLength;
    default:
      return value.length <= PAGE_VIEW_LIMITS.visitTextMaxLength;
  }
}

/**
 * Decodes and validates a log record's value: UTF-8 (strictly), then JSON, then the schema. Never throws.
 * A record as the collector writes it takes a fast path ({@link fastDecodePageView}); any other
 * goes through the schema, which gives every error message. Both give the same result.
 */
export function decodePageView(value: Buffer | string): ValidationResult {
  const record = parseRecord(value);
  if (!record.ok) return record;
  const event = fastPageView(record.text, record.json);
  return event !== null ? { ok: true, event } : validatePageView(record.json);
}

/** {@link decodePageView} through the schema alone (no fast path): the reference it must agree with. */
export function decodePageViewStrict(value: Buffer | string): ValidationResult {
  const record = parseRecord(value);
  return record.ok ? validatePageView(record.json) : record;
}

/**
 * {@link decodePageView}'s fast path alone: the event when the record is valid UTF-8 and JSON of
 * the shape {@link encodePageView} writes, and valid; null when it declines (the record may still
 * be valid, as e.g. an ISO timestamp or a null referrer is, and then only the schema accepts it).
 */
export function fastDecodePageView(value: Buffer | string): PageView | null {
  const record = parseRecord(value);
  return record.ok ? fastPageView(record.text, record.json) : null;
}

/** The log partitioning key: per-visitor order is kept (sessions and bounce metrics need it). */
export function pageViewKey(event: PageView): string {
  return `${event.site}\u0001${event.visitorId}`;
}
