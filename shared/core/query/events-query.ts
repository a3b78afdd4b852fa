/**
 * Queries the views cannot answer: filters on two properties, or on a property other than the
 * breakdown's (`needsEvents`, property-views.ts), e.g. pages for `visit:source==Google`.
 *
 * - Before the boundary, the events themselves: the batch version's deduplicated raw copy, read
 *   in the engine (`batchEventCounts`). Exact.
 * - From the boundary on, the speed layer keeps no joint counts, only one view per property. Its
 *   part is a bounded estimate from those views: with N events in the range, and b₁…b_k passing
 *   each condition (a property's filters, or the breakdown's value), the events passing all are
 *   between max(0, Σbᵢ − (k−1)·N) and min bᵢ (Fréchet bounds; the same for visitors, as sets),
 *   and estimated as N·Π(bᵢ/N), as if the properties were independent. Every such number says
 *   `exact: false` and carries `lower`/`upper`.
 * Across the boundary the two parts are added: page views exactly so; visitors seen on both sides
 * are counted twice (the events of a combination have no sketch to unite), so their lower bound
 * is the larger part and their estimate the sum.
 */
import { INTERVAL_MS, bucketStart } from '../time-buckets.ts';
import type { BatchBoundary } from '../../adapters/view-store/index.ts';
import { boundaryTime } from './boundary-split.ts';
import { bucketRange } from './page-views.ts';
import { queryValues, scopeOf } from './property-views.ts';
import type { PropertyDefinition, PropertyFilter } from './properties.ts';
import { filterMatches } from './properties.ts';
import type { QueryStore } from './visitors.ts';

/** A count with its bounds: exact (lower = value = upper), or estimated within [lower, upper]. */
export interface BoundedCount {
  value: number;
  exact: boolean;
  lower: number;
  upper: number;
}

export interface BoundedMetrics {
  pageviews: BoundedCount;
  visitors: BoundedCount;
}

const exactCount = (n: number): BoundedCount => ({ value: n, exact: true, lower: n, upper: n });

/** The filters grouped by property: one condition per property. */
function conditions(filters: readonly PropertyFilter[]): PropertyFilter[][] {
  const groups = new Map<string, PropertyFilter[]>();
  for (const f of filters) {
    const group = groups.get(f.property.name);
    if (group === undefined) groups.set(f.property.name, [f]);
    else group.push(f);
  }
  return [...groups.values()];
}

/** Events (or visitors) passing every condition, from the condition counts `parts` of `total` (see the module's comment). */
function frechet(total: number, parts: readonly number[]): BoundedCount {
  if (total <= 0 || parts.length === 0) return { value: Math.max(total, 0), exact: false, lower: Math.max(total, 0), upper: Math.max(total, 0) };
  const upper = Math.min(total, ...parts);
  const lower = Math.max(0, parts.reduce((a, b) => a + b, 0) - (parts.length - 1) * total);
  const value = Math.min(upper, Math.max(lower, Math.round(parts.reduce((est, b) => (est * b) / total, total))));
  return { value, exact: false, lower, upper };
}

/** Adds an exact batch part and an estimated speed part (see the module's comment on visitors). */
function addParts(batch: number, speed: BoundedCount | null, visitors: boolean): BoundedCount {
  if (speed === null) return exactCount(batch);
  return {
    value: batch + speed.value,
    exact: false,
    lower: visitors ? Math.max(batch, speed.lower) : batch + speed.lower,
    upper: batch + speed.upper,
  };
}

interface ConditionCounts {
  all: { views: number; visitors: number };
  parts: { views: number; visitors: number }[];
}

/** Over [from, to) (at or after the boundary): page views and visitors in all, and passing each condition. */
async function speedConditionCounts(
  store: QueryStore,
  site: string,
  groups: readonly PropertyFilter[][],
  boundary: BatchBoundary | null,
  range: { from: number; to: number },
): Promise<ConditionCounts> {
  const scopes = [scopeOf(store, site, [], boundary), ...groups.map((g) => scopeOf(store, site, g, boundary))];
  const counts = await Promise.all(
    scopes.map(async (s) => ({ views: (await s.pageViews({ ...range, interval: 'hour' })).total.views, visitors: (await s.visitors(range)).value })),
  );
  const [all, ...parts] = counts as [{ views: number; visitors: number }, ...{ views: number; visitors: number }[]];
  return { all, parts };
}

/** The speed part: events and visitors passing every condition, with `extra` (a breakdown value's counts) as one more. */
function speedEstimate(counts: ConditionCounts, extra: { views: number; visitors: number } | null = null): BoundedMetrics {
  const parts = extra === null ? counts.parts : [...counts.parts, extra];
  return {
    pageviews: frechet(counts.all.views, parts.map((p) => p.views)),
    visitors: frechet(counts.all.visitors, parts.map((p) => p.visitors)),
  };
}

/** Page views and visitors of `site` over [from, to) passing `filters`. */
export async function queryEventTotals(
  store: QueryStore,
  query: { site: string; filters: readonly PropertyFilter[]; from: number; to: number },
  boundary: BatchBoundary | null,
): Promise<BoundedMetrics> {
  const cut = Math.min(Math.max(boundaryTime(boundary), query.from), query.to);
  const [batch, speed] = await Promise.all([
    boundary !== null && cut > query.from ? store.batchEventCounts(boundary, { site: query.site, filters: query.filters, from: query.from, to: cut }) : Promise.resolve([]),
    cut < query.to ? speedConditionCounts(store, query.site, conditions(query.filters), boundary, { from: cut, to: query.to }).then((c) => speedEstimate(c)) : Promise.resolve(null),
  ]);
  const b = batch[0] ?? { views: 0, visitors: 0 };
  return { pageviews: addParts(b.views, speed?.pageviews ?? null, false), visitors: addParts(b.visitors, speed?.visitors ?? null, true) };
}

export interface BoundedPoint extends BoundedMetrics {
  bucket: number;
}

/** Page views and visitors per bucket (hour or day) of `site` over [from, to) passing `filters`. */
export async function queryEventSeries(
  store: QueryStore,
  query: { site: string; filters: readonly PropertyFilter[]; from: number; to: number; interval: 'hour' | 'day' },
  boundary: BatchBoundary | null,
): Promise<BoundedPoint[]> {
  const { from, to } = bucketRange(query.from, query.to, query.interval);
  const width = INTERVAL_MS[query.interval];
  const cut = Math.min(Math.max(boundaryTime(boundary), from), to);
  const groups = conditions(query.filters);
  const batch =
    boundary !== null && cut > from
      ? await store.batchEventCounts(boundary, { site: query.site, filters: query.filters, from, to: cut, groupBy: { interval: query.interval } })
      : [];
  const byBucket = new Map(batch.map((r) => [r.bucket, r]));
  const points: BoundedPoint[] = [];
  for (let bucket = from; bucket < to; bucket += width) {
    const end = bucket + width;
    const speed = end > cut ? speedEstimate(await speedConditionCounts(store, query.site, groups, boundary, { from: Math.max(bucket, cut), to: end })) : null;
    const b = byBucket.get(bucketStart(bucket, query.interval)) ?? { views: 0, visitors: 0 };
    points.push({ bucket, pageviews: addParts(b.views, speed?.pageviews ?? null, false), visitors: addParts(b.visitors, speed?.visitors ?? null, true) });
  }
  return points;
}

export interface BoundedRow extends BoundedMetrics {
  value: string;
}

/**
 * Values of `property` by page views over [from, to) among the events passing `filters` (filters
 * on `property` itself restrict the values), paged by `offset`/`limit`.
 */
export async function queryEventBreakdown(
  store: QueryStore,
  query: { site: string; property: PropertyDefinition; filters: readonly PropertyFilter[]; from: number; to: number; limit: number; offset: number },
  boundary: BatchBoundary | null,
): Promise<{ rows: BoundedRow[]; total: number }> {
  const cut = Math.min(Math.max(boundaryTime(boundary), query.from), query.to);
  const own = query.filters.filter((f) => f.property.name === query.property.name);
  const others = conditions(query.filters.filter((f) => f.property.name !== query.property.name));
  const [batch, speedValues] = await Promise.all([
    boundary !== null && cut > query.from
      ? store.batchEventCounts(boundary, { site: query.site, filters: query.filters, from: query.from, to: cut, groupBy: { property: query.property } })
      : Promise.resolve([]),
    cut < query.to ? queryValues(store, { site: query.site, property: query.property, from: cut, to: query.to }, boundary) : Promise.resolve([]),
  ]);
  // Rank by page views first (the estimate needs no visitors); visitors only for the values on the page.
  const rows = new Map<string, { value: string; pageviews: BoundedCount; batchVisitors: number; speedViews: number | null }>();
  for (const r of batch) rows.set(r.value, { value: r.value, pageviews: exactCount(r.views), batchVisitors: r.visitors, speedViews: null });
  const speedRange = { from: cut, to: query.to };
  const counts = speedValues.length === 0 ? null : await speedConditionCounts(store, query.site, others, boundary, speedRange);
  for (const v of speedValues) {
    if (!own.every((f) => filterMatches(f, v.pageId))) continue;
    const speed = speedEstimate(counts!, { views: v.pageviews, visitors: 0 }).pageviews;
    const b = rows.get(v.pageId);
    if (speed.upper === 0 && b === undefined) continue;
    rows.set(v.pageId, { value: v.pageId, pageviews: addParts(b?.pageviews.value ?? 0, speed, false), batchVisitors: b?.batchVisitors ?? 0, speedViews: v.pageviews });
  }
  const ranked = [...rows.values()].sort((a, b) => b.pageviews.value - a.pageviews.value || a.value.localeCompare(b.value));
  const page = await Promise.all(
    ranked.slice(query.offset, query.offset + query.limit).map(async (r): Promise<BoundedRow> => {
      if (r.speedViews === null) return { value: r.value, pageviews: r.pageviews, visitors: exactCount(r.batchVisitors) };
      const valueScope = scopeOf(store, query.site, [{ property: query.property, negated: false, values: [{ pieces: [r.value] }] }], boundary);
      const visitors = (await valueScope.visitors(speedRange)).value;
      return { value: r.value, pageviews: r.pageviews, visitors: addParts(r.batchVisitors, speedEstimate(counts!, { views: r.speedViews, visitors }).visitors, true) };
    }),
  );
  return { rows: page, total: ranked.length };
}
