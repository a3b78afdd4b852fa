/**
 * Event schema v1: `page_view`. The one definition of what a page view is, used by
 * the collector, the speed layer, the batch layer and the generator alike.
 *
 * On the wire (HTTP and the log) an event is JSON. `timestamp` may be epoch ms or an
 * ISO-8601 string with an explicit UTC offset; the validator normalises it to epoch ms.
 */

export const PAGE_VIEW_SCHEMA_VERSION = 1;
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
} as const;

/** A validated, normalised page view. */
export interface PageView {
  schemaVersion: 1;
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
/** Site ids are slugs: they appear in URLs and metrics labels. */
const SITE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

const KNOWN_FIELDS = new Set(['schemaVersion', 'eventId', 'site', 'pageId', 'visitorId', 'timestamp', 'referrer', 'userAgent', 'type']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkString(
  input: Record<string, unknown>,
  field: string,
  maxLength: number,
  errors: FieldError[],
  required: boolean,
): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) {
    if (required) errors.push({ field, message: 'is required' });
    return undefined;
  }
  if (typeof value !== 'string') {
    errors.push({ field, message: `must be a string, got ${typeof value}` });
    return undefined;
  }
  if (value.length === 0) {
    errors.push({ field, message: 'must not be empty' });
    return undefined;
  }
  if (value.length > maxLength) {
    errors.push({ field, message: `must be at most ${maxLength} characters, got ${value.length}` });
    return undefined;
  }
  if (CONTROL_RE.test(value)) {
    errors.push({ field, message: 'must not contain control characters' });
    return undefined;
  }
  return value;
}

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

/** Validates one incoming event. Unknown fields are rejected so that typos do not pass silently. */
export function validatePageView(input: unknown): ValidationResult {
  if (!isRecord(input)) {
    return { ok: false, errors: [{ field: '', message: 'event must be a JSON object' }] };
  }
  const errors: FieldError[] = [];
  for (const key of Object.keys(input)) {
    if (!KNOWN_FIELDS.has(key)) errors.push({ field: key, message: 'is not a field of page_view v1' });
  }
  if (input['type'] !== undefined && input['type'] !== 'page_view') {
    errors.push({ field: 'type', message: "must be 'page_view' when given" });
  }
  const version = input['schemaVersion'];
  if (version !== undefined && version !== PAGE_VIEW_SCHEMA_VERSION) {
    errors.push({ field: 'schemaVersion', message: `must be ${PAGE_VIEW_SCHEMA_VERSION}, got ${JSON.stringify(version)}` });
  }
  const eventId = checkString(input, 'eventId', 36, errors, true);
  if (eventId !== undefined && !UUID_RE.test(eventId)) {
    errors.push({ field: 'eventId', message: 'must be a UUID' });
  }
  const site = checkString(input, 'site', PAGE_VIEW_LIMITS.siteMaxLength, errors, false);
  if (site !== undefined && !SITE_RE.test(site)) {
    errors.push({ field: 'site', message: 'must contain only letters, digits, ".", "_" and "-" and start with a letter or digit' });
  }
  const pageId = checkString(input, 'pageId', PAGE_VIEW_LIMITS.pageIdMaxLength, errors, true);
  if (pageId !== undefined && !pageId.startsWith('/')) {
    errors.push({ field: 'pageId', message: "must be a path starting with '/'" });
  }
  const visitorId = checkString(input, 'visitorId', PAGE_VIEW_LIMITS.visitorIdMaxLength, errors, true);
  const referrer = checkString(input, 'referrer', PAGE_VIEW_LIMITS.referrerMaxLength, errors, false);
  const userAgent = checkString(input, 'userAgent', PAGE_VIEW_LIMITS.userAgentMaxLength, errors, false);

  const ts = parseTimestamp(input['timestamp']);
  if (typeof ts === 'string') {
    errors.push({ field: 'timestamp', message: ts });
  } else if (ts < PAGE_VIEW_LIMITS.minTimestampMs || ts >= PAGE_VIEW_LIMITS.maxTimestampMs) {
    errors.push({ field: 'timestamp', message: 'must be between 2000-01-01 and 2100-01-01 UTC' });
  }

  if (errors.length > 0 || eventId === undefined || pageId === undefined || visitorId === undefined || typeof ts === 'string') {
    return { ok: false, errors };
  }
  const event: PageView = {
    schemaVersion: 1,
    eventId: eventId.toLowerCase(),
    site: site ?? DEFAULT_SITE,
    pageId,
    visitorId,
    timestamp: ts,
  };
  if (referrer !== undefined) event.referrer = referrer;
  if (userAgent !== undefined) event.userAgent = userAgent;
  return { ok: true, event };
}

/** The log's wire form of a validated event (what the collector and generator append). */
export function encodePageView(event: PageView): string {
  return JSON.stringify(event);
}

/** Decodes and validates a log record's value. Never throws. */
export function decodePageView(value: Buffer | string): ValidationResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (err) {
    return { ok: false, errors: [{ field: '', message: `not valid JSON: ${(err as Error).message}` }] };
  }
  return validatePageView(parsed);
}

/** The log partitioning key: per-visitor order is kept (sessions and bounce metrics need it). */
export function pageViewKey(event: PageView): string {
  return `${event.site}\u0001${event.visitorId}`;
}
