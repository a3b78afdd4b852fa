/**
 * When a speed number agrees with the exact batch number, by each metric's declared bound
 * (see metrics.ts). The Count-Min bound itself is `countMinOvercountBound` and the
 * HyperLogLog error `HyperLogLog.relativeStandardError`, each defined in its sketch.
 */

/** Page views: speed may exceed batch by at most its overcount bound, and never count less. */
export function viewsWithinBound(speed: number, batch: number, overcountBound: number): boolean {
  const difference = speed - batch;
  return difference >= 0 && difference <= overcountBound;
}

/** Unique visitors: within 3 relative standard errors of the exact count (at least 1). */
export function visitorsWithinBound(estimate: number, exact: number, relativeStandardError: number): boolean {
  return Math.abs(estimate - exact) <= Math.max(3 * relativeStandardError * exact, 1);
}

/** (speed − batch) / batch; 0 when both are 0, null when only batch is. */
export function relativeDifference(difference: number, base: number): number | null {
  return base === 0 ? (difference === 0 ? 0 : null) : difference / base;
}
