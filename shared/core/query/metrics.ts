/**
 * The metrics, as data: what each counts, how it merges across the boundary (and across
 * partitions and buckets), and which bound an approximate value carries. The HTTP layer, the
 * OpenAPI document and the query functions read this table; nothing else lists metrics.
 */

/** How values of a metric combine: counts add; unique counts are unions, never sums. */
export type MergeRule = 'sum' | 'union';

/** The error an approximate (speed) value carries. */
export type BoundKind =
  /** Count-Min: the value exceeds the true count by at most this many (99%). */
  | 'overcountBound'
  /** HyperLogLog: the value is within ± value × rse of the true count (~68%). */
  | 'relativeStandardError';

export interface MetricDefinition {
  description: string;
  merge: MergeRule;
  bound: BoundKind;
}

export const METRICS = {
  pageviews: {
    description: 'Page views: events counted once per eventId before the boundary, as consumed after it.',
    merge: 'sum',
    bound: 'overcountBound',
  },
  visitors: {
    description: 'Unique visitors: distinct visitor ids, a union over the range (batch registers ∪ speed sketches).',
    merge: 'union',
    bound: 'relativeStandardError',
  },
} as const satisfies Record<string, MetricDefinition>;

export type Metric = keyof typeof METRICS;

export const METRIC_NAMES = Object.keys(METRICS) as Metric[];

export function isMetric(name: string): name is Metric {
  return Object.hasOwn(METRICS, name);
}
