/**
 * Dimension views: page views and visitors per value of a visit property (`visit:source`,
 * `visit:country`, …), through both layers, as the page views of a site are.
 *
 * They reuse the page views' keys, rows and machinery: the views of property P of site S are
 * kept under the *dimension site* `S|P`, each value as a page. So a value gets an exact counter
 * per minute (or the site-minute overflow's Count-Min and top-K beyond the speed layer's
 * budgets), a visitors sketch per hour, exact batch views per hour and day with its distinct
 * visitors, and one merge at the boundary — the query module reads `S|P` as it reads `S`.
 * `|` is not allowed in a site id (SITE_PATTERN), so a dimension site never names a real one.
 *
 * A dimension site has no site-level visitors of its own (every event has one value of every
 * property: they would be the site's), and lists of sites leave dimension sites out.
 */
import { PROPERTIES, type PropertyDefinition } from './query/properties.ts';

export const DIMENSION_SEPARATOR = '|';

/** The visit properties kept as dimension views (`event:page` is the page views themselves). */
export const DIMENSION_PROPERTIES: readonly PropertyDefinition[] = PROPERTIES.filter((p) => p.field !== 'pageId');

/** The site the views of `property` of `site` are kept under. */
export function dimensionSite(site: string, property: PropertyDefinition): string {
  return `${site}${DIMENSION_SEPARATOR}${property.name}`;
}

/** The site whose views answer a breakdown or filter by `property` (the site itself for `event:page`). */
export function viewSiteOf(site: string, property: PropertyDefinition): string {
  return property.field === 'pageId' ? site : dimensionSite(site, property);
}

export function isDimensionSite(site: string): boolean {
  return site.includes(DIMENSION_SEPARATOR);
}
