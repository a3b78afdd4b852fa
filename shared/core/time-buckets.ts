/**
 * How time is cut into buckets: the one definition used by the speed layer (in TS),
 * the batch layer (in SQL, through `bucketSql`) and the serving layer.
 *
 * Buckets are UTC and half-open [start, start + width). Because Unix time has no leap
 * seconds and UTC minutes, hours and days all divide the epoch evenly, a bucket start is
 * `floor(ts / width) * width` in integer milliseconds, in TypeScript and in every SQL engine.
 */

export const INTERVALS = ['minute', 'hour', 'day'] as const;
export type Interval = (typeof INTERVALS)[number];

export const INTERVAL_MS: Readonly<Record<Interval, number>> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

export function isInterval(value: unknown): value is Interval {
  return typeof value === 'string' && (INTERVALS as readonly string[]).includes(value);
}

/** Start (epoch ms) of the bucket holding `ts`. */
export function bucketStart(ts: number, interval: Interval): number {
  const width = INTERVAL_MS[interval];
  return Math.floor(ts / width) * width;
}

/** True when `ts` is exactly on a bucket edge of `interval`. */
export function isBucketEdge(ts: number, interval: Interval): boolean {
  return ts % INTERVAL_MS[interval] === 0;
}

/** First bucket edge at or after `ts`. */
export function bucketCeil(ts: number, interval: Interval): number {
  const start = bucketStart(ts, interval);
  return start === ts ? ts : start + INTERVAL_MS[interval];
}

/** Bucket starts covering [from, to): from floored, to ceiled to the interval. */
export function bucketsInRange(from: number, to: number, interval: Interval): number[] {
  const width = INTERVAL_MS[interval];
  const out: number[] = [];
  for (let b = bucketStart(from, interval); b < to; b += width) out.push(b);
  return out;
}

/**
 * The same bucket function as SQL over an integer epoch-ms column. Integer division is
 * `intDiv` on ClickHouse and `//` on DuckDB; both floor for the non-negative times we accept.
 */
export function bucketSql(dialect: 'clickhouse' | 'duckdb', column: string, interval: Interval): string {
  const width = INTERVAL_MS[interval];
  return dialect === 'clickhouse' ? `(intDiv(${column}, ${width}) * ${width})` : `((${column} // ${width}) * ${width})`;
}
