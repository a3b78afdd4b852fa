/**
 * What a benchmark reports: figures, each with its reference measured in the same run, the
 * ratio of the two, and the layer issue's target where there is one.
 */
import { ratio, summarize, type Summary } from './stats.ts';

export interface Target {
  /** The target as the layer issue states it. */
  text: string;
  /** The figure the issue reported before the work (its "today" column), e.g. '0.10×'. */
  before?: string;
  /** null: not decidable from this run (e.g. a smoke run with smaller sizes). */
  met: boolean | null;
  /** Why met or not, with the numbers. */
  why: string;
}

export interface Figure {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  value: Summary;
  reference: { name: string; unit: string; value: Summary } | null;
  /** value.median / reference.median. */
  ratio: number | null;
  /** How to read the ratio, e.g. "speed layer / kcat". */
  ratioMeaning: string | null;
  target: Target | null;
}

export interface BenchResult {
  id: string;
  title: string;
  figures: Figure[];
  /** Raw per-repetition data, sizes and anything else worth keeping. */
  details: Record<string, unknown>;
  notes: string[];
  error?: string;
  durationS: number;
}

export function figure(
  name: string,
  unit: string,
  better: 'higher' | 'lower',
  values: number[],
  reference: { name: string; unit?: string; values: number[]; meaning: string } | null = null,
  target: Target | null = null,
): Figure {
  const value = summarize(values);
  const ref = reference === null ? null : { name: reference.name, unit: reference.unit ?? unit, value: summarize(reference.values) };
  return {
    name,
    unit,
    better,
    value,
    reference: ref,
    // A zero reference (e.g. a sub-millisecond latency, below autocannon's 1 ms resolution) gives no ratio.
    ratio: ref === null ? null : ratio(value, ref.value),
    ratioMeaning: reference?.meaning ?? null,
    target,
  };
}

export const MiB = 1024 * 1024;
