/**
 * Rolling rows up into buckets: the one place where counts from either side of the boundary,
 * or from several partitions and sketches, are summed into the buckets of an interval. Counts
 * add and overcount bounds add (each is a bound on its own part).
 */
import { INTERVAL_MS, bucketStart, type Interval } from '../time-buckets.ts';

export interface BucketTotal {
  views: number;
  /** The views may exceed the true count by at most this (0 for exact parts). */
  overcountBound: number;
}

export class BucketRollup {
  private readonly buckets = new Map<number, BucketTotal>();

  /** @param interval the width of the buckets rows are rolled up to */
  constructor(readonly interval: Interval) {}

  /** Adds a row of any finer (or equal) grain to the bucket that holds it. */
  add(time: number, views: number, overcountBound = 0): void {
    const bucket = bucketStart(time, this.interval);
    const seen = this.buckets.get(bucket);
    if (seen === undefined) this.buckets.set(bucket, { views, overcountBound });
    else {
      seen.views += views;
      seen.overcountBound += overcountBound;
    }
  }

  /** The bucket starting at `bucket` (zero when nothing was added to it). */
  get(bucket: number): BucketTotal {
    return this.buckets.get(bucket) ?? { views: 0, overcountBound: 0 };
  }

  /** The buckets that received rows, in time order. */
  entries(): { bucket: number; views: number; overcountBound: number }[] {
    return [...this.buckets].sort(([a], [b]) => a - b).map(([bucket, t]) => ({ bucket, ...t }));
  }

  /** Every bucket of [from, to) in order, zeros included. `from` and `to` must be bucket edges. */
  *range(from: number, to: number): Generator<{ bucket: number; views: number; overcountBound: number }> {
    for (let bucket = from; bucket < to; bucket += INTERVAL_MS[this.interval]) yield { bucket, ...this.get(bucket) };
  }
}
