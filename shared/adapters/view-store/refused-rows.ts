/**
 * Poison isolation (invariant 11: one bad record never stops a layer). When a store refuses a
 * write, the rows are written again in halves until the refused ones stand alone; the others
 * are written. Used by the speed layer's checkpoints and the batch layer's raw copy.
 *
 * A refusal is a non-retriable `PV_STORE_QUERY_FAILED`. A retriable error (the store is down
 * or slow) is never bisected: it is rethrown, and the caller retries the whole write later.
 * Neither is a write in which *every* row is refused (a missing table, a broken schema): only
 * rows the store refuses while it accepts others are treated as poison.
 */
import { PlatformError, isPlatformError } from '../../core/errors.ts';

export interface RefusedRow<T> {
  row: T;
  error: PlatformError;
}

/** True for an error that says the store will never take these rows as they are. */
export function isRefusal(err: unknown): err is PlatformError {
  return isPlatformError(err, 'PV_STORE_QUERY_FAILED') && !err.retriable;
}

/**
 * Writes `rows` with `write`; on a refusal, isolates the refused rows by bisection and writes
 * the rest. Resolves with the refused rows (empty when the first write succeeded). Rejects
 * with the store's error when it is not a refusal, or when no row at all was accepted.
 */
export async function writeIsolatingRefused<T>(rows: readonly T[], write: (rows: readonly T[]) => Promise<void>): Promise<RefusedRow<T>[]> {
  try {
    await write(rows);
    return [];
  } catch (err) {
    if (!isRefusal(err) || rows.length < 2) throw err;
    const refused: RefusedRow<T>[] = [];
    let accepted = 0;
    const bisect = async (part: readonly T[], error: PlatformError): Promise<void> => {
      if (part.length === 1) {
        refused.push({ row: part[0]!, error });
        return;
      }
      const middle = Math.ceil(part.length / 2);
      for (const half of [part.slice(0, middle), part.slice(middle)]) {
        try {
          await write(half);
          accepted += half.length;
        } catch (halfErr) {
          if (!isRefusal(halfErr)) throw halfErr;
          await bisect(half, halfErr);
        }
      }
    };
    await bisect(rows, err);
    if (accepted === 0) throw err; // nothing was taken: the store, not the rows, is the problem
    return refused;
  }
}
