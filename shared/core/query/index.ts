/**
 * The query path, one module for every reader (the serving layer's routes, the compare report,
 * the batch layer's divergence check): split a range at the boundary, read both sides at their
 * finest grain, roll rows up to the interval, unite visitor sketches, and label each number
 * with its bound. Metric definitions are data (metrics.ts).
 */
export { boundaryTime, isExact, splitAtBoundary, type BoundarySplit, type TimeRange } from './boundary-split.ts';
export { relativeDifference, viewsWithinBound, visitorsWithinBound } from './bounds.ts';
export { queryBreakdown, type PageRow } from './breakdown.ts';
export { compareSpeedBatch, type CompareRequest, type CompareRow, type Comparison, type VisitorsComparison } from './compare.ts';
export { METRICS, METRIC_NAMES, isMetric, type BoundKind, type MergeRule, type Metric, type MetricDefinition } from './metrics.ts';
export { MAX_BUCKETS, bucketRange, queryPageViews, type PageViewsAnswer, type PageViewsPoint, type PageViewsRequest } from './page-views.ts';
export {
  FILTER_LIMITS,
  PROPERTIES,
  eventMatches,
  filterMatches,
  filterPatterns,
  parseFilters,
  propertyNamed,
  propertyValue,
  referrerValue,
  type FilterValue,
  type FiltersParse,
  type PropertyDefinition,
  type PropertyField,
  type PropertyFilter,
  type PropertyName,
} from './properties.ts';
export { BucketRollup, type BucketTotal } from './rollup.ts';
export { MAX_SERIES_VALUES, filteredProperty, needsEvents, queryPropertyBreakdown, queryValues, scopeOf, type QueryScope, type ValueRow } from './property-views.ts';
export { queryEventBreakdown, queryEventSeries, queryEventTotals, type BoundedCount, type BoundedMetrics, type BoundedPoint, type BoundedRow } from './events-query.ts';
export {
  REALTIME_WINDOW_MS,
  queryRealtimeVisitors,
  realtimeWindow,
  queryVisitors,
  queryVisitorsSeries,
  unionOfVisitors,
  type QueryStore,
  type VisitorsPoint,
  type PageUnion,
  type VisitorsValue,
} from './visitors.ts';
