/**
 * The read API's inputs, declared once as zod schemas: each route's query parameters (and
 * path and body where it has them). They give the validation (`parseInput`), the TypeScript
 * types, and the parameters of the OpenAPI document (openapi.ts). A route reads its input
 * only through its schema; test/serving-layer/api.test.ts checks that every registered route
 * has one and that the document lists exactly its parameters.
 */
import { z } from 'zod';
import { DEFAULT_SITE, PAGE_VIEW_LIMITS, SITE_PATTERN, parseTimestamp, parseTimeText } from '../shared/core/page-view.ts';
import { METRICS, METRIC_NAMES, PROPERTIES, isMetric, parseFilters, propertyNamed, type Metric, type PropertyDefinition, type PropertyFilter } from '../shared/core/query/index.ts';
import { INTERVALS } from '../shared/core/time-buckets.ts';
import { SESSION_METRIC_NAMES, SESSION_METRICS, isSessionMetric, type SessionMetric } from '../shared/core/sessions.ts';
import { SESSION_PROPERTIES, isSessionProperty, type SessionProperty } from '../shared/core/query/sessions-query.ts';
import { querySchema } from '../shared/runtime/http/validate.ts';
import { PERIODS, TIMESERIES_INTERVALS, type Period, type PeriodDate } from './query-params.ts';

type Issue = { input?: unknown };
const givenTwice = (iss: Issue): boolean => Array.isArray(iss.input);
/** A parameter given as `?x=1&x=2` arrives as an array. */
const once = (name: string, otherwise: string) => (iss: Issue) => (givenTwice(iss) ? `parameter '${name}' must be given once` : otherwise);

/** A string parameter; `?x=` counts as absent (see {@link querySchema}). */
const text = (name: string, message = `parameter '${name}' must be text`) => z.string({ error: once(name, message) });

const choice = <T extends readonly [string, ...string[]]>(name: string, values: T) =>
  z.enum(values, { error: once(name, `parameter '${name}' must be one of ${values.join(', ')}`) });

const wholeNumber = (name: string, min: number, max: number) => {
  const message = `parameter '${name}' must be a whole number from ${min} to ${max}`;
  return text(name, message)
    .regex(/^\d+$/, { error: message })
    .transform(Number)
    .pipe(z.number().min(min, { error: message }).max(max, { error: message }))
    .meta({ description: `A whole number from ${min} to ${max}.` });
};

const time = (name: string, description: string) =>
  text(name)
    .transform((raw, ctx) => {
      const parsed = parseTimeText(raw);
      if (typeof parsed === 'string') ctx.issues.push({ code: 'custom', message: `parameter '${name}' ${parsed}`, input: raw });
      else if (parsed < PAGE_VIEW_LIMITS.minTimestampMs || parsed > PAGE_VIEW_LIMITS.maxTimestampMs) {
        ctx.issues.push({ code: 'custom', message: `parameter '${name}' must be between 2000-01-01 and 2100-01-01 UTC`, input: raw });
      } else return parsed;
      return z.NEVER;
    })
    .meta({ description: `${description} ISO-8601 with a zone (e.g. 2026-01-31T00:00:00Z), or epoch ms.` });

const siteMessage = "parameter 'site' must be a site id: letters, digits, '.', '_' and '-'";
export const siteParam = text('site', siteMessage)
  .max(PAGE_VIEW_LIMITS.siteMaxLength, { error: siteMessage })
  .regex(SITE_PATTERN, { error: siteMessage })
  .default(DEFAULT_SITE)
  .meta({ description: `Site id (default '${DEFAULT_SITE}').` });

/** The site by Plausible's name for it (`site_id`, its domain) or the product's (`site`); one of them, or both equal. */
const siteFields = {
  site: text('site', siteMessage).max(PAGE_VIEW_LIMITS.siteMaxLength, { error: siteMessage }).regex(SITE_PATTERN, { error: siteMessage }).optional().meta({ description: `Site id (default '${DEFAULT_SITE}'); the same as site_id.` }),
  site_id: text('site_id', siteMessage.replace("'site'", "'site_id'"))
    .max(PAGE_VIEW_LIMITS.siteMaxLength, { error: siteMessage.replace("'site'", "'site_id'") })
    .regex(SITE_PATTERN, { error: siteMessage.replace("'site'", "'site_id'") })
    .optional()
    .meta({ description: "The site, by Plausible's name for the parameter (its domain); the same as site." }),
};

/** `site_id` and `site` as one `site` (default 'default'); both given and different is a 400. */
function oneSite<T extends { site?: string | undefined; site_id?: string | undefined }>(q: T, ctx: z.RefinementCtx): Omit<T, 'site' | 'site_id'> & { site: string } {
  const { site, site_id: siteId, ...rest } = q;
  if (site !== undefined && siteId !== undefined && site !== siteId) {
    ctx.addIssue({ code: 'custom', path: ['site_id'], message: `parameters 'site' and 'site_id' name different sites ('${site}', '${siteId}'): give one` });
  }
  return { ...rest, site: siteId ?? site ?? DEFAULT_SITE };
}

const pagePath = (name: string) =>
  text(name)
    .transform((raw) => (raw.startsWith('/') ? raw : `/${raw}`))
    .refine((page) => page.length <= PAGE_VIEW_LIMITS.pageIdMaxLength && !/[\u0000-\u001f\u007f]/.test(page), {
      error: `page id must be a path of at most ${PAGE_VIEW_LIMITS.pageIdMaxLength} characters without control characters`,
    });

/** Plausible's metrics this version does not have yet, with what they come with: naming one is a 400 that says so. */
const METRICS_NOT_YET: Readonly<Record<string, string>> = {
  time_on_page: 'time on page (not recorded yet: page views carry no engagement time)',
  events: 'custom events and goals (not yet)',
  conversion_rate: 'goals (not yet)',
};

/** Every metric a query may ask for: the view metrics, then the session metrics. */
export type AnyMetric = Metric | SessionMetric;
const ALL_METRICS: readonly AnyMetric[] = [...METRIC_NAMES, ...SESSION_METRIC_NAMES];

const metricsParam = text('metrics')
  .transform((raw, ctx) => {
    const out: AnyMetric[] = [];
    for (const m of raw.split(',').map((x) => x.trim())) {
      if (!isMetric(m) && !isSessionMetric(m)) {
        const comesWith = Object.hasOwn(METRICS_NOT_YET, m) ? METRICS_NOT_YET[m] : undefined;
        const message =
          comesWith === undefined
            ? `parameter 'metrics': metric ${JSON.stringify(m.slice(0, 50))} is not one of ${ALL_METRICS.join(', ')}`
            : `parameter 'metrics': metric '${m}' comes with ${comesWith}; this version has ${ALL_METRICS.join(', ')}`;
        ctx.issues.push({ code: 'custom', message, input: raw });
        return z.NEVER;
      }
      if (!out.includes(m)) out.push(m);
    }
    return out;
  })
  .meta({
    description:
      `Comma-separated, any of: ${METRIC_NAMES.map((m) => `${m} (${METRICS[m].description})`).join('; ')}; ` +
      `${SESSION_METRIC_NAMES.map((m) => `${m} (${SESSION_METRICS[m].description})`).join('; ')}. Default: pageviews and visitors. ` +
      `Session metrics take no filters yet (break down by visit:entry_page or visit:exit_page instead). Plausible's ${Object.keys(METRICS_NOT_YET).join(', ')} are a 400 (not yet).`,
  });

/** Plausible's `filters`: `property==value` or `!=`, `|` between alternatives, `;` between filters, `*` as a wildcard. */
const filtersParam = text('filters')
  .transform((raw, ctx): PropertyFilter[] => {
    const parsed = parseFilters(raw);
    if (parsed.ok) return parsed.filters;
    ctx.issues.push({ code: 'custom', message: `parameter 'filters': ${parsed.message}`, input: raw });
    return z.NEVER;
  })
  .optional()
  .meta({
    description:
      "Plausible's filters: property==value or property!=value; a|b for alternatives (a literal | is \\|); ';' between filters (all hold); '*' in a value matches any run of characters. " +
      `Properties: ${PROPERTIES.map((p) => p.name).join(', ')}. Filters on one property (and on the breakdown's property) are answered from the views; ` +
      'filters on two properties (or on another property than the breakdown\'s) from the events: exact before the batch boundary, a bounded estimate (lower/upper) after it.',
  });

/** Plausible's `with_imported`: the platform imports no stats, so true and false give the same answer. */
const withImportedParam = choice('with_imported', ['true', 'false'] as const)
  .optional()
  .meta({ description: "Plausible's: include imported stats. Nothing is imported here, so true and false give the same answer." });

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** A calendar day `YYYY-MM-DD` as the epoch ms of its UTC start, or null when it is not a real day in [2000, 2100). */
function utcDay(text: string): number | null {
  const m = DAY_RE.exec(text);
  if (m === null) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return ms >= PAGE_VIEW_LIMITS.minTimestampMs && ms < PAGE_VIEW_LIMITS.maxTimestampMs ? ms : null;
}

const dateMessage = "parameter 'date' must be a day YYYY-MM-DD (the period's reference day), or with period=custom two days YYYY-MM-DD,YYYY-MM-DD";
const dateParam = text('date', dateMessage)
  .transform((raw, ctx): PeriodDate => {
    const parts = raw.split(',');
    const days = parts.map((p) => utcDay(p.trim()));
    if (parts.length > 2 || days.some((d) => d === null)) {
      ctx.issues.push({ code: 'custom', message: dateMessage, input: raw });
      return z.NEVER;
    }
    const [first, last] = days as number[];
    if (last === undefined) return { day: first as number };
    if ((first as number) > last) {
      ctx.issues.push({ code: 'custom', message: "parameter 'date': the first day must not be after the last", input: raw });
      return z.NEVER;
    }
    return { first: first as number, last };
  })
  .meta({ description: 'The reference day of `period` (YYYY-MM-DD, UTC; default today); with period=custom, the first and last day, inclusive: YYYY-MM-DD,YYYY-MM-DD.' });

const rangeFields = {
  period: choice('period', PERIODS)
    .optional()
    .meta({
      description:
        'A preset instead of from/to (UTC), relative to `date` (default today): day = that day, 7d and 30d end with it, month = its month, 6mo and 12mo the months ending with its month; custom = the days in `date`.',
    }),
  date: dateParam.optional(),
  from: time('from', 'Start, inclusive; floored to the interval.').optional(),
  to: time('to', 'End, exclusive; ceiled to the interval. Default: now.').optional(),
};

/** `period` or `from`/`to`, not both; `date` goes with `period` (custom needs a range, the others one day); `from` before `to`; `to` alone needs `from`. */
function checkRange(
  q: { period?: Period | undefined; date?: PeriodDate | undefined; from?: number | undefined; to?: number | undefined },
  ctx: z.RefinementCtx,
  toRequiresFrom: boolean,
): void {
  if (q.period !== undefined && (q.from !== undefined || q.to !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['period'], message: "give either 'period' or 'from'/'to', not both" });
  }
  if (q.date !== undefined && q.period === undefined) ctx.addIssue({ code: 'custom', path: ['date'], message: "parameter 'date' goes with 'period' (from/to give their own range)" });
  if (q.period === 'custom' && (q.date === undefined || !('first' in q.date))) {
    ctx.addIssue({ code: 'custom', path: ['date'], message: 'period=custom needs date=YYYY-MM-DD,YYYY-MM-DD (first and last day, inclusive)' });
  }
  if (q.period !== undefined && q.period !== 'custom' && q.date !== undefined && 'first' in q.date) {
    ctx.addIssue({ code: 'custom', path: ['date'], message: `a range of days in 'date' goes with period=custom; period=${q.period} takes one day` });
  }
  if (toRequiresFrom && q.to !== undefined && q.from === undefined) ctx.addIssue({ code: 'custom', path: ['from'], message: "parameter 'from' is required with 'to'" });
  if (q.from !== undefined && q.to !== undefined && q.from >= q.to) ctx.addIssue({ code: 'custom', path: ['from'], message: "'from' must be before 'to'" });
}

export const pageViewsQuery = querySchema({
  site: siteParam,
  interval: choice('interval', INTERVALS).default('hour').meta({ description: 'Bucket width (UTC).' }),
  from: time('from', 'Start, inclusive; floored to the interval. Default: one span before `to` (an hour of minutes, a day of hours, 30 days).').optional(),
  to: time('to', 'End, exclusive; ceiled to the interval. Default: now.').optional(),
}).superRefine((q, ctx) => checkRange(q, ctx, false));

export const pageViewsPath = z.object({
  pageId: pagePath('pageId').meta({ description: "The page's path, URL-encoded; the leading '/' may be left out." }),
});

export const aggregateQuery = querySchema({
  ...siteFields,
  page: pagePath('page').optional().meta({ description: "Only this page (its path, e.g. '/pricing')." }),
  metrics: metricsParam.optional(),
  filters: filtersParam,
  ...rangeFields,
  with_imported: withImportedParam,
  compare: choice('compare', ['previous_period'] as const)
    .optional()
    .meta({ description: "previous_period: each metric also gets `change` (percent, rounded, as Plausible's) and `previous`, over the period of the same length just before." }),
})
  .superRefine((q, ctx) => checkRange(q, ctx, true))
  .transform(oneSite);

export const timeseriesQuery = querySchema({
  ...siteFields,
  page: pagePath('page').optional().meta({ description: "Only this page (its path, e.g. '/pricing')." }),
  metrics: metricsParam.optional(),
  filters: filtersParam,
  interval: choice('interval', TIMESERIES_INTERVALS)
    .optional()
    .meta({
      description:
        "Bucket width (UTC): minute, hour, day (or Plausible's date, the same), month (calendar months). Default, as Plausible's: hour for period=day, month for 6mo and 12mo, else day.",
    }),
  with_imported: withImportedParam,
  ...rangeFields,
})
  .superRefine((q, ctx) => checkRange(q, ctx, true))
  .transform(oneSite);

/** A breakdown by a session property (visit:entry_page, visit:exit_page): answered from the session views. */
export interface SessionPropertyRef {
  readonly name: SessionProperty;
  readonly session: true;
}

const propertyParam = text('property')
  .transform((raw, ctx): PropertyDefinition | SessionPropertyRef => {
    if (isSessionProperty(raw)) return { name: raw, session: true };
    const lookup = propertyNamed(raw === 'page' ? 'event:page' : raw.slice(0, 100));
    if (lookup.ok) return lookup.property;
    ctx.issues.push({ code: 'custom', message: `parameter 'property': ${lookup.message}`, input: raw });
    return z.NEVER;
  })
  .optional()
  .meta({
    description:
      `What to break down by: ${PROPERTIES.map((p) => p.name).join(', ')} (or the product's 'page', the same as event:page; the default); ` +
      `or ${Object.keys(SESSION_PROPERTIES).join(', ')}, with session metrics only. Results carry the value under Plausible's key (e.g. \`page\`, \`source\`, \`entry_page\`).`,
  });

export const breakdownQuery = querySchema({
  ...siteFields,
  property: propertyParam,
  metrics: metricsParam.optional(),
  filters: filtersParam,
  with_imported: withImportedParam,
  limit: wholeNumber('limit', 1, 1000).default(10),
  offset: wholeNumber('offset', 0, 1_000_000).optional().meta({ description: 'Results to skip (default 0); or give page.' }),
  page: wholeNumber('page', 1, 1_000_000).optional().meta({ description: "Plausible's pagination: the page of `limit` results, from 1 (default 1); or give offset." }),
  ...rangeFields,
})
  .superRefine((q, ctx) => {
    checkRange(q, ctx, true);
    if (q.offset !== undefined && q.page !== undefined) ctx.addIssue({ code: 'custom', path: ['page'], message: "give either 'page' or 'offset', not both" });
  })
  .transform((q, ctx) => {
    const { page, offset, ...rest } = oneSite(q, ctx);
    return { ...rest, offset: offset ?? ((page ?? 1) - 1) * q.limit };
  });

export const compareQuery = querySchema({
  site: siteParam,
  page: pagePath('page').optional().meta({ description: "Only this page (its path, e.g. '/pricing')." }),
  interval: choice('interval', ['hour', 'day'] as const).default('hour').meta({ description: 'Bucket width.' }),
  ...rangeFields,
}).superRefine((q, ctx) => checkRange(q, ctx, true));

export const realtimeQuery = querySchema({ ...siteFields }).transform(oneSite);

export const batchRunsQuery = querySchema({ limit: wholeNumber('limit', 1, 1000).default(20) });


/** POST /api/v1/batch/runs: what to run. */
export const batchRunBody = z.strictObject(
  {
    cutoff: z
      .union([z.number(), z.string()], { error: "'cutoff' must be an ISO-8601 date-time or epoch ms" })
      .transform((raw, ctx) => {
        const parsed = parseTimestamp(raw);
        if (typeof parsed === 'string') {
          ctx.issues.push({ code: 'custom', message: `'cutoff' ${parsed}`, input: raw });
          return z.NEVER;
        }
        return parsed;
      })
      .optional()
      .meta({ description: 'Exclusive cutoff on a UTC hour, not in the future. Default: the start of the current UTC day.' }),
    full: z.boolean({ error: "'full' must be true or false" }).optional().meta({ description: "Rebuild the raw copy from the log's first offset." }),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field(s): ${iss.keys.join(', ')}; allowed: cutoff, full` : "the body must be a JSON object: {\"cutoff\"?: ISO-8601 or epoch ms, \"full\"?: boolean}") },
);

/**
 * The dashboard's page (`/`, `/<site>`): the parameters its script reads, checked as the API
 * checks them, so a mistyped link is a 400 that names the parameter, not a page that quietly
 * shows something else.
 */
export const dashboardQuery = querySchema({
  period: choice('period', PERIODS).optional().meta({ description: 'The period shown (default 7d), as the Stats API takes it.' }),
  date: dateParam.optional(),
  filters: filtersParam,
  auth: text('auth')
    .min(16, { error: "parameter 'auth' must be a read key (at least 16 characters)" })
    .optional()
    .meta({ description: 'A read key (one of READ_API_KEYS), as in a shared link: the page sends it as its bearer token. Without it, the page asks for one when the API needs it.' }),
});

/** `/<site>`: a site id (anything else is not a dashboard path: 404). */
export const dashboardPath = z.object({ site: z.string().meta({ description: `A site id (letters, digits, '.', '_', '-'); '/' shows the first site the API lists.` }) });

/** `/dashboard/<file>`: the page's own files. */
export const dashboardFilePath = z.object({ file: z.string().meta({ description: 'dashboard.js, dashboard.css, uPlot.min.js or uPlot.min.css' }) });
