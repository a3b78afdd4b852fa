/**
 * Rows of Plausible's Stats API v1 answers: the timeseries' points and the breakdown's rows
 * carry each metric as a plain number under Plausible's name, and the product's labels beside
 * them: `exact` (every value of the row comes from before the batch boundary) and, when not,
 * `bounds` (per metric, the bound of its approximate value):
 *
 *     {"date":"2026-01-01","pageviews":12,"visitors":7,"exact":true}
 *     {"date":"2026-01-02","pageviews":30,"visitors":9,"exact":false,
 *      "bounds":{"pageviews":{"overcount":2},"visitors":{"relativeStandardError":0.0081}}}
 */
import type { BoundedCount, PropertyName } from '../shared/core/query/index.ts';
import { isoTime } from './iso-time.ts';
import type { SessionProperty } from '../shared/core/query/sessions-query.ts';

/**
 * The key a breakdown row gives its property's value under, per Plausible property (its name
 * after the `event:` or `visit:` prefix, as Plausible's answers name it), and the product's own
 * `page`. Every property of shared/core/query/properties.ts has one.
 */
export const RESULT_KEYS = {
  page: 'page',
  'event:page': 'page',
  'visit:source': 'source',
  'visit:referrer': 'referrer',
  'visit:utm_medium': 'utm_medium',
  'visit:utm_source': 'utm_source',
  'visit:utm_campaign': 'utm_campaign',
  'visit:utm_content': 'utm_content',
  'visit:utm_term': 'utm_term',
  'visit:device': 'device',
  'visit:browser': 'browser',
  'visit:browser_version': 'browser_version',
  'visit:os': 'os',
  'visit:os_version': 'os_version',
  'visit:country': 'country',
  'visit:entry_page': 'entry_page',
  'visit:exit_page': 'exit_page',
} as const satisfies Record<PropertyName | SessionProperty | 'page', string>;

export type ResultKey = (typeof RESULT_KEYS)[keyof typeof RESULT_KEYS];

/** A bucket start as Plausible writes it: `YYYY-MM-DD` for day and month buckets, `YYYY-MM-DD HH:MM:SS` for hours (and minutes). */
export function plausibleDate(bucket: number, interval: 'minute' | 'hour' | 'day' | 'month'): string {
  const iso = isoTime(bucket);
  return interval === 'day' || interval === 'month' ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** The page views of a row: the count, whether it is exact, and how far it may exceed the true count when not. */
export interface ViewsValue {
  value: number;
  exact: boolean;
  overcountBound: number;
}

/** The visitors of a row: null when the metric does not exist at the row's grain (the answer's `note` says why). */
export interface VisitorsCell {
  value: number | null;
  exact: boolean;
  relativeStandardError: number;
}

/** The bounds of a row's approximate values. */
export interface RowBounds {
  /** Count-Min: the page views exceed the true count by at most this (99%); or, for filters across properties after the boundary, the true count lies in [lower, upper]. */
  pageviews?: { overcount: number } | { lower: number; upper: number };
  /** HyperLogLog: the visitors are within ± value × this of the true count (~68%); or, for filters across properties, in [lower, upper]. */
  visitors?: { relativeStandardError: number } | { lower: number; upper: number };
}

export type PlausibleRow<L> = L & { pageviews?: number; visitors?: number | null; exact: boolean; bounds?: RowBounds };

/** A row: its labels (`date`, or the property's key), each metric given as a plain number, then `exact` and, when not, `bounds`. */
export function plausibleRow<L extends Record<string, string>>(labels: L, values: { pageviews?: ViewsValue | undefined; visitors?: VisitorsCell | undefined }): PlausibleRow<L> {
  const { pageviews, visitors } = values;
  const bounds: RowBounds = {};
  if (pageviews !== undefined && !pageviews.exact) bounds.pageviews = { overcount: pageviews.overcountBound };
  if (visitors !== undefined && !visitors.exact && visitors.value !== null) bounds.visitors = { relativeStandardError: visitors.relativeStandardError };
  const exact = (pageviews?.exact ?? true) && (visitors?.exact ?? true);
  return {
    ...labels,
    ...(pageviews === undefined ? {} : { pageviews: pageviews.value }),
    ...(visitors === undefined ? {} : { visitors: visitors.value }),
    exact,
    ...(Object.keys(bounds).length === 0 ? {} : { bounds }),
  };
}

/** A row of counts that are exact or estimated within bounds (filters across properties: shared/core/query/events-query.ts). */
export function boundedRow<L extends Record<string, string>>(labels: L, values: { pageviews?: BoundedCount | undefined; visitors?: BoundedCount | undefined }): PlausibleRow<L> {
  const { pageviews, visitors } = values;
  const bounds: RowBounds = {};
  if (pageviews !== undefined && !pageviews.exact) bounds.pageviews = { lower: pageviews.lower, upper: pageviews.upper };
  if (visitors !== undefined && !visitors.exact) bounds.visitors = { lower: visitors.lower, upper: visitors.upper };
  return {
    ...labels,
    ...(pageviews === undefined ? {} : { pageviews: pageviews.value }),
    ...(visitors === undefined ? {} : { visitors: visitors.value }),
    exact: (pageviews?.exact ?? true) && (visitors?.exact ?? true),
    ...(Object.keys(bounds).length === 0 ? {} : { bounds }),
  };
}
