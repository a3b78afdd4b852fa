/**
 * The few statistics the benchmarks need: percentiles of samples, and the median with min/max
 * of a figure measured several times.
 */

/** A figure measured `values.length` times: its median, min and max. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  values: number[];
}

/** Linear-interpolated percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, values: [...values] };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), values: [...values] };
}

/** The ratio of two medians (NaN when either is missing). */
export function ratio(numerator: Summary | number, denominator: Summary | number): number {
  const n = typeof numerator === 'number' ? numerator : numerator.median;
  const d = typeof denominator === 'number' ? denominator : denominator.median;
  return Number.isFinite(n) && Number.isFinite(d) && d !== 0 ? n / d : Number.NaN;
}

/** Runs `measure` once to warm up (result dropped), then `reps` times; returns the results in order. */
export async function repeat<T>(reps: number, measure: (rep: number) => Promise<T>, warmup = true): Promise<T[]> {
  if (warmup) await measure(-1);
  const out: T[] = [];
  for (let rep = 0; rep < reps; rep++) out.push(await measure(rep));
  return out;
}

/** Human formatting: 1234567 → "1.23M", 12345 → "12.3k". */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}G`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(2)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}
