/**
 * The rule of a batch cutoff: the batch views are built per UTC hour, so a cutoff is on a UTC
 * hour and not in the future. Each refusal offers the cutoff to use instead: the last full hour
 * at or before the one given (npm run batch's --cutoff, POST /api/v1/batch/runs's "cutoff").
 */
import { bucketStart, isBucketEdge } from '../shared/core/time-buckets.ts';

/**
 * The cutoff of a run asked for now (npm run batch -- --now, POST /api/v1/batch/runs without
 * one, the first run): the start of the current UTC hour, the last full hour.
 */
export function lastFullHour(now: number): number {
  return bucketStart(now, 'hour');
}

/** Why a cutoff is refused, and the last full hour at or before it (never in the future) to offer instead. */
export type CutoffProblem = { problem: 'off-hour' | 'future'; lastFullHour: number };

/** null when `cutoffTime` is a valid cutoff at `now`. */
export function cutoffProblem(cutoffTime: number, now: number): CutoffProblem | null {
  const currentHour = lastFullHour(now);
  const onHour = Number.isSafeInteger(cutoffTime) && isBucketEdge(cutoffTime, 'hour');
  if (onHour && cutoffTime <= now) return null;
  const hourOfCutoff = Number.isFinite(cutoffTime) ? bucketStart(cutoffTime, 'hour') : currentHour;
  if (!onHour && hourOfCutoff <= now) return { problem: 'off-hour', lastFullHour: hourOfCutoff };
  return { problem: 'future', lastFullHour: currentHour };
}

/** An hour as a user writes it: 2026-12-02T13:00:00Z. */
export function hourText(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}
