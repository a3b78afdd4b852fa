/**
 * Breakdowns and filters by property (properties.ts), answered from the views: a property's
 * views are the page views of its view site (`event:page`: the site; a visit property: its
 * dimension site, shared/core/dimensions.ts), so the merge at the boundary, the bounds and the
 * visitor unions are the page views' own.
 *
 * What the views answer (docs/serving-layer.md, "Breakdowns and filters"):
 * - a breakdown by P, with or without filters on P: P's values, merged at the boundary;
 * - totals and series filtered on one property P (any number of filters on P): the sum of the
 *   matching values' page views, and the union of their visitors (exact before the boundary:
 *   `count(DISTINCT visitor)` over the matching values' rows);
 * - a single `event:page==/path` filter is the page's own views.
 * Filters on a property other than the breakdown's, or on two properties, need the events
 * themselves: {@link needsEvents} says so, and events-query.ts answers them.
 *
 * Values the speed layer could not keep exactly (beyond its key budget) are found through the
 * top-K summaries of the overflow: a filter cannot match a value that is in neither, so
 * speed-side filtered numbers may miss such values; their views are in the overflow's total.
 */
import { PlatformError } from '../errors.ts';
import { viewSiteOf } from '../dimensions.ts';
import type { Interval } from '../time-buckets.ts';
import type { BatchBoundary } from '../../adapters/view-store/index.ts';
import { queryBreakdown, type PageRow } from './breakdown.ts';
import { queryPageViews, type PageViewsAnswer } from './page-views.ts';
import { filterMatches, type PropertyDefinition, type PropertyFilter } from './properties.ts';
import { queryVisitors, queryVisitorsSeries, type PageUnion, type QueryStore, type VisitorsPoint, type VisitorsValue } from './visitors.ts';

/** Most matching values a filtered series adds up (each is read on its own). */
export const MAX_SERIES_VALUES = 1000;

/** The one property all `filters` are on; null without filters or when they name several. */
export function filteredProperty(filters: readonly PropertyFilter[]): PropertyDefinition | null {
  const first = filters[0]?.property;
  return first !== undefined && filters.every((f) => f.property.name === first.name) ? first : null;
}

/** Whether the views cannot answer these filters (with a breakdown by `breakdown`): they need the events. */
export function needsEvents(filters: readonly PropertyFilter[], breakdown?: PropertyDefinition): boolean {
  if (filters.length === 0) return false;
  const on = filteredProperty(filters);
  return on === null || (breakdown !== undefined && on.name !== breakdown.name);
}

const matchesAll = (filters: readonly PropertyFilter[], value: string): boolean => filters.every((f) => filterMatches(f, value));

/** Every value of `property` over [from, to) with its page views, merged at the boundary, in rank order. */
export async function queryValues(
  store: QueryStore,
  query: { site: string; property: PropertyDefinition; from: number; to: number },
  boundary: BatchBoundary | null,
): Promise<PageRow[]> {
  const site = viewSiteOf(query.site, query.property);
  return (await queryBreakdown(store, { site, from: query.from, to: query.to, limit: Number.MAX_SAFE_INTEGER, offset: 0 }, boundary)).pages;
}

export interface ValueRow extends PageRow {
  /** Unique visitors of the value (when asked for). */
  visitors?: VisitorsValue;
}

/**
 * A breakdown by `property` over [from, to), optionally filtered on the same property, paged by
 * `offset`/`limit`, with the visitors of each value on the page when `withVisitors`.
 */
export async function queryPropertyBreakdown(
  store: QueryStore,
  query: { site: string; property: PropertyDefinition; filters: readonly PropertyFilter[]; from: number; to: number; limit: number; offset: number; withVisitors: boolean },
  boundary: BatchBoundary | null,
): Promise<{ rows: ValueRow[]; total: number }> {
  if (needsEvents(query.filters, query.property)) throw new PlatformError('PV_QUERY_INVALID', 'these filters need the events: see queryEventsBreakdown');
  const site = viewSiteOf(query.site, query.property);
  let rows: PageRow[];
  let total: number;
  if (query.filters.length === 0) {
    const page = await queryBreakdown(store, { site, from: query.from, to: query.to, limit: query.limit, offset: query.offset }, boundary);
    rows = page.pages;
    total = page.totalPages;
  } else {
    const matching = (await queryValues(store, query, boundary)).filter((r) => matchesAll(query.filters, r.pageId));
    rows = matching.slice(query.offset, query.offset + query.limit);
    total = matching.length;
  }
  if (!query.withVisitors) return { rows, total };
  const visitors = await Promise.all(rows.map((r) => queryVisitors(store, { site, pageId: r.pageId, from: query.from, to: query.to }, boundary)));
  return { rows: rows.map((r, i) => ({ ...r, visitors: visitors[i]! })), total };
}

/**
 * What a set of filters on one property selects: the site whose views hold it, the values that
 * match (the speed side reads them one by one), and the filters (the batch side matches them in
 * the engine: no list of values goes into SQL).
 */
interface ValueSelection {
  site: string;
  matching: PageRow[];
  union: PageUnion;
}

async function selectValues(
  store: QueryStore,
  query: { site: string; filters: readonly PropertyFilter[]; from: number; to: number },
  boundary: BatchBoundary | null,
): Promise<ValueSelection> {
  const property = filteredProperty(query.filters);
  if (property === null) throw new PlatformError('PV_QUERY_INVALID', 'filters on several properties need the events');
  const matching = (await queryValues(store, { ...query, property }, boundary)).filter((r) => matchesAll(query.filters, r.pageId));
  return { site: viewSiteOf(query.site, property), matching, union: { filters: query.filters, speed: matching.map((r) => r.pageId) } };
}

/**
 * What a query counts: a site, one page, or the values of one property its filters select.
 * Its three reads take the same arguments as the query module's unfiltered ones.
 */
export interface QueryScope {
  pageViews(range: { from: number; to: number; interval: Interval }): Promise<PageViewsAnswer>;
  visitors(range: { from: number; to: number }): Promise<VisitorsValue>;
  visitorsSeries(range: { from: number; to: number }, interval: Interval): Promise<{ series: VisitorsPoint[]; note: string | null }>;
}

/**
 * The scope of a query of `site` with `filters` (none, or all on one property: see
 * {@link needsEvents}). A lone `event:page==/path` (or a single exact value of any property)
 * reads that page's (value's) views.
 */
export function scopeOf(store: QueryStore, site: string, filters: readonly PropertyFilter[], boundary: BatchBoundary | null): QueryScope {
  if (needsEvents(filters)) throw new PlatformError('PV_QUERY_INVALID', 'filters on several properties need the events');
  const single = filters.length === 1 && !filters[0]!.negated && filters[0]!.values.length === 1 && filters[0]!.values[0]!.pieces.length === 1 ? filters[0]! : null;
  if (filters.length === 0 || single !== null) {
    const base = single === null ? { site } : { site: viewSiteOf(site, single.property), pageId: single.values[0]!.pieces[0]! };
    return {
      pageViews: (range) => queryPageViews(store, { ...base, ...range }),
      visitors: (range) => queryVisitors(store, { ...base, ...range }, boundary),
      visitorsSeries: (range, interval) => queryVisitorsSeries(store, { ...base, ...range }, interval, boundary),
    };
  }
  return {
    pageViews: async (range) => {
      const { site: viewSite, matching } = await selectValues(store, { site, filters, ...range }, boundary);
      if (matching.length > MAX_SERIES_VALUES) {
        throw new PlatformError('PV_QUERY_INVALID', `the filters match ${matching.length} values; a filtered series adds up at most ${MAX_SERIES_VALUES}: narrow the filters`);
      }
      // The empty selection still gives the range's buckets (all 0), from a value no event has.
      const answers = await Promise.all((matching.length === 0 ? [''] : matching.map((r) => r.pageId)).map((pageId) => queryPageViews(store, { site: viewSite, pageId, ...range })));
      return sumAnswers(answers);
    },
    visitors: async (range) => {
      const selection = await selectValues(store, { site, filters, ...range }, boundary);
      return queryVisitors(store, { site: selection.site, ...range, pages: selection.union }, boundary);
    },
    visitorsSeries: async (range, interval) => {
      // Per bucket, a union over the selection: as queryVisitorsSeries, visitors before the boundary exist per day.
      const selection = await selectValues(store, { site, filters, ...range }, boundary);
      const shape = await queryVisitorsSeries(store, { site: selection.site, pageId: '', ...range }, interval, boundary);
      const series = await Promise.all(
        shape.series.map(async (point, i) => {
          if (point.visitors === null) return point;
          const end = shape.series[i + 1]?.bucket ?? range.to;
          const v = await queryVisitors(store, { site: selection.site, from: point.bucket, to: end, pages: selection.union }, boundary);
          return { bucket: point.bucket, visitors: v.value, exact: v.exact, relativeStandardError: v.relativeStandardError };
        }),
      );
      return { series, note: shape.note };
    },
  };
}

/** Page views of several values added up, bucket by bucket (the answers share their range and interval). */
function sumAnswers(answers: readonly PageViewsAnswer[]): PageViewsAnswer {
  const [first, ...rest] = answers as [PageViewsAnswer, ...PageViewsAnswer[]];
  const series = first.series.map((p) => ({ ...p }));
  const total = { ...first.total };
  for (const a of rest) {
    a.series.forEach((p, i) => {
      const s = series[i]!;
      s.views += p.views;
      s.exact &&= p.exact;
      s.overcountBound += p.overcountBound;
    });
    total.views += a.total.views;
    total.exact &&= a.total.exact;
    total.overcountBound += a.total.overcountBound;
  }
  return { ...first, series, total };
}
