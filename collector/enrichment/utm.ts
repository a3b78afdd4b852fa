/**
 * The UTM visit fields: the page URL's `utm_*` query parameters, decoded (percent-encoding,
 * `+` as space) and trimmed. The first non-empty value of a parameter counts; an empty one is
 * absent. `utmSource` is the value as given; the `source` field maps it (source.ts).
 */

import { PAGE_VIEW_LIMITS, type VisitFields } from '../../shared/core/page-view.ts';
import type { PageLocation } from './page-url.ts';
import { cleanText } from './text.ts';

export type UtmFields = Pick<VisitFields, 'utmMedium' | 'utmSource' | 'utmCampaign' | 'utmContent' | 'utmTerm'>;

/** Query parameter → visit field, in the order of VISIT_FIELDS. */
export const UTM_PARAMETERS = {
  utm_medium: 'utmMedium',
  utm_source: 'utmSource',
  utm_campaign: 'utmCampaign',
  utm_content: 'utmContent',
  utm_term: 'utmTerm',
} as const satisfies Record<string, keyof UtmFields>;

/** Writes the page's UTM fields into `into` (each only when present). */
export function addUtmFields(page: PageLocation | undefined, into: UtmFields): void {
  if (page === undefined || page.params.size === 0) return;
  for (const [parameter, field] of Object.entries(UTM_PARAMETERS) as [keyof typeof UTM_PARAMETERS, keyof UtmFields][]) {
    for (const value of page.params.getAll(parameter)) {
      const cleaned = cleanText(value, PAGE_VIEW_LIMITS.visitTextMaxLength);
      if (cleaned !== undefined) {
        into[field] = cleaned;
        break;
      }
    }
  }
}

/** The page's UTM fields. */
export function utmFields(page: PageLocation | undefined): UtmFields {
  const fields: UtmFields = {};
  addUtmFields(page, fields);
  return fields;
}
