/**
 * Plausible's events API payload (`POST /api/event`), as Plausible's own trackers send it, and
 * how it becomes a page view. The payload is declared once here: it gives the validation, the
 * type and the OpenAPI entry.
 *
 * Fields (Plausible's names): `n` event name, `u` page URL, `d` domain (the site; several
 * separated by commas), `r` referrer, `w` window width, `h` hash-based routing, `p` custom
 * properties, `i` interactive, `v` tracker version, `$` revenue, and for engagement events
 * `sd` scroll depth and `e` engaged time. What is not supported yet is a 400 that names it:
 * custom events, custom properties and revenue. Engagement events are accepted and not stored
 * (see {@link PLAUSIBLE_IGNORED_EVENTS}).
 */
import { z } from 'zod';
import { PAGE_VIEW_LIMITS, SITE_PATTERN } from '../shared/core/page-view.ts';

/** Most sites one event may name in `d`. */
export const MAX_DOMAINS_PER_EVENT = 10;
/** Longest page URL (`u`) taken. */
export const MAX_PAGE_URL_LENGTH = 8192;

/**
 * Events Plausible's trackers send that the platform answers 202 to without storing them:
 * `engagement` (time on page and scroll depth, sent when a page is left) has no metric here yet.
 * They are counted in pv_collector_dropped_total{reason="ignored_event"}, and the answer carries
 * `X-Plausible-Dropped: 1`, as Plausible's own server marks events it drops.
 */
export const PLAUSIBLE_IGNORED_EVENTS: ReadonlySet<string> = new Set(['engagement']);

const emptyProps = (p: unknown): boolean =>
  p === undefined || p === null || (typeof p === 'object' && !Array.isArray(p) && Object.keys(p).length === 0) || p === '' || p === '{}';

export const PLAUSIBLE_EVENT_INPUT = z
  .strictObject(
    {
      n: z.string({ error: 'is required: the event name, e.g. "pageview"' }).min(1, { error: 'must not be empty' }).max(120),
      u: z
        .string({ error: 'is required: the page URL' })
        .max(MAX_PAGE_URL_LENGTH, { error: `must be at most ${MAX_PAGE_URL_LENGTH} characters` })
        .refine((u) => /^https?:\/\//i.test(u) && URL.canParse(u), { error: 'must be an absolute http(s) URL' }),
      d: z
        .string({ error: 'is required: the site domain, e.g. "example.com"' })
        .transform((d) => d.split(',').map((s) => s.trim()).filter(Boolean))
        .pipe(
          z
            .array(
              z
                .string()
                .max(PAGE_VIEW_LIMITS.siteMaxLength, { error: `each domain must be at most ${PAGE_VIEW_LIMITS.siteMaxLength} characters` })
                .regex(SITE_PATTERN, { error: 'each domain must contain only letters, digits, ".", "_" and "-" and start with a letter or digit' }),
            )
            .min(1, { error: 'must name a domain' })
            .max(MAX_DOMAINS_PER_EVENT, { error: `at most ${MAX_DOMAINS_PER_EVENT} domains per event` }),
        ),
      r: z.string().max(PAGE_VIEW_LIMITS.referrerMaxLength, { error: `must be at most ${PAGE_VIEW_LIMITS.referrerMaxLength} characters` }).nullish(),
      w: z.number().int().min(0).max(100_000).nullish(),
      h: z.union([z.boolean(), z.literal(0), z.literal(1)]).nullish(),
      p: z.unknown().refine(emptyProps, { error: 'custom properties are not supported yet: send the event without them' }).optional(),
      i: z.boolean().nullish(),
      v: z.number().nullish(),
      $: z.unknown().refine((v) => v === undefined || v === null, { error: 'revenue is not supported yet: send the event without it' }).optional(),
      sd: z.number().nullish(),
      e: z.number().nullish(),
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? `is not a field of Plausible's events API` : iss.code === 'invalid_type' ? 'the body must be a JSON object' : undefined) },
  )
  .check((ctx) => {
    const { n, sd, e } = ctx.value;
    if (n !== 'pageview' && !PLAUSIBLE_IGNORED_EVENTS.has(n)) {
      ctx.issues.push({ code: 'custom', path: ['n'], input: n, message: `event "${n}" is not supported yet: only "pageview" is counted (custom events and goals may come later)` });
    }
    if (n === 'pageview') {
      for (const [field, value] of [['sd', sd], ['e', e]] as const) {
        if (value !== undefined && value !== null) ctx.issues.push({ code: 'custom', path: [field], input: value, message: 'is a field of engagement events only' });
      }
    }
  });

export type PlausibleEvent = z.output<typeof PLAUSIBLE_EVENT_INPUT>;

/**
 * The page of a page URL: its path, decoded (`/caf%C3%A9` → `/café`, as Plausible stores it),
 * with the fragment appended in hash-based routing (`h`). A path that does not decode to clean
 * text stays as sent.
 */
export function pageIdOf(pageUrl: string, hashMode: boolean): string {
  const url = new URL(pageUrl);
  const path = url.pathname + (hashMode ? url.hash : '');
  try {
    const decoded = decodeURI(path);
    // eslint-disable-next-line no-control-regex
    return /[\u0000-\u001f\u007f]/.test(decoded) ? path : decoded;
  } catch {
    return path;
  }
}
