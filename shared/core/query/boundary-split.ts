/**
 * The split of a range at the batch boundary (invariant 2), in one place: buckets before the
 * latest successful boundary B are the batch layer's (exact), buckets at or after it the
 * speed layer's. Without a successful batch run the speed layer answers everything.
 */
import type { BatchBoundary } from '../../adapters/view-store/index.ts';

export interface TimeRange {
  from: number;
  to: number;
}

export interface BoundarySplit {
  /** The boundary the split used; null when no batch run has succeeded. */
  boundary: BatchBoundary | null;
  /** Where the range is cut: max(from, min(B, to)); `from` without a boundary. */
  cut: number;
  /** [from, cut), read from the batch version `boundary.batchId`; null when empty. */
  batch: TimeRange | null;
  /** [cut, to), read from the speed views; null when empty. */
  speed: TimeRange | null;
}

export function splitAtBoundary(range: TimeRange, boundary: BatchBoundary | null): BoundarySplit {
  const { from, to } = range;
  const cut = boundary === null ? from : Math.min(Math.max(boundary.cutoffTime, from), to);
  return {
    boundary,
    cut,
    batch: boundary !== null && cut > from ? { from, to: cut } : null,
    speed: cut < to ? { from: cut, to } : null,
  };
}

/** The boundary time: buckets ending at or before it are exact. −∞ without a boundary. */
export function boundaryTime(boundary: BatchBoundary | null): number {
  return boundary?.cutoffTime ?? Number.NEGATIVE_INFINITY;
}

/** Whether the bucket [start, end) is wholly before the boundary, so its numbers are exact. */
export function isExact(end: number, boundary: BatchBoundary | null): boolean {
  return end <= boundaryTime(boundary);
}
