import { PlatformError } from '../shared/core/errors.ts';

export interface SpeedLayerOptions {
  /**
   * Consumer group of the speed layer; instances with the same group share partitions.
   * @default 'pv-speed-layer'
   */
  groupId?: string;
  /**
   * How often changed counters and checkpoints are written (ms). This is also the
   * freshness of the speed views for a separate serving process.
   * @default 500
   */
  flushIntervalMs?: number;
  /**
   * Allowed lateness (ms): the watermark is the highest event time seen minus this.
   * Events for minute buckets behind the watermark are counted as late and left to the batch layer.
   * @default 120000
   */
  allowedLatenessMs?: number;
  /**
   * Events more than this far ahead of the wall clock (ms) are rejected to the dead-letter topic.
   * @default 300000
   */
  maxFutureSkewMs?: number;
  /**
   * Where records that are not usable events go, with their original bytes and a reason header.
   * @default '<topic>.dead-letter'
   */
  deadLetterTopic?: string;
  /**
   * Exact page-minute counters kept per partition (open buckets only). Beyond it, a page's
   * views in a minute go to that minute's Count-Min sketch and top-pages summary.
   * @default 25000 (about 20 MiB per partition)
   */
  maxExactKeys?: number;
  /** Count-Min ε: a page's estimate overcounts by at most ε × (overflow events). @default 0.01 */
  cmsEpsilon?: number;
  /** Count-Min δ: the bound holds with probability 1 − δ. @default 0.01 */
  cmsDelta?: number;
  /** Pages kept by each minute's Space-Saving summary of overflow pages. @default 1000 */
  topPagesCapacity?: number;
  /** HyperLogLog precision p (4..18): standard error 1.04 / √(2^p). @default 14 (0.81%) */
  hllPrecision?: number;
  /**
   * Speed buckets are kept from the latest batch boundary minus this margin (for speed-vs-batch
   * comparison); older days are dropped once a batch run has covered them.
   * @default 172800000 (48 h)
   */
  retentionMarginMs?: number;
  /** How often retention checks the boundary (ms). @default 60000 */
  retentionCheckIntervalMs?: number;
  /**
   * When a partition is taken over from another member after a rebalance, wait this long
   * before restoring its checkpoint, so a checkpoint the old owner had in flight lands first.
   * @default 3000
   */
  takeoverGraceMs?: number;
  /** Wall clock, for tests. @default Date.now */
  now?: () => number;
}

export type ResolvedSpeedLayerOptions = Required<Omit<SpeedLayerOptions, 'deadLetterTopic'>> & { deadLetterTopic: string | null };

export const SPEED_LAYER_DEFAULTS = {
  groupId: 'pv-speed-layer',
  flushIntervalMs: 500,
  allowedLatenessMs: 120_000,
  maxFutureSkewMs: 300_000,
  maxExactKeys: 25_000,
  cmsEpsilon: 0.01,
  cmsDelta: 0.01,
  topPagesCapacity: 1000,
  hllPrecision: 14,
  retentionMarginMs: 48 * 3_600_000,
  retentionCheckIntervalMs: 60_000,
  takeoverGraceMs: 3000,
} as const;

function check(ok: boolean, option: string, rule: string, value: unknown): void {
  if (!ok) throw new PlatformError('PV_CONFIG_INVALID', `speed layer option '${option}' ${rule}, got ${String(value)}`);
}

export function resolveSpeedLayerOptions(options: SpeedLayerOptions): ResolvedSpeedLayerOptions {
  const d = SPEED_LAYER_DEFAULTS;
  const r: ResolvedSpeedLayerOptions = {
    groupId: options.groupId ?? d.groupId,
    flushIntervalMs: options.flushIntervalMs ?? d.flushIntervalMs,
    allowedLatenessMs: options.allowedLatenessMs ?? d.allowedLatenessMs,
    maxFutureSkewMs: options.maxFutureSkewMs ?? d.maxFutureSkewMs,
    deadLetterTopic: options.deadLetterTopic ?? null,
    maxExactKeys: options.maxExactKeys ?? d.maxExactKeys,
    cmsEpsilon: options.cmsEpsilon ?? d.cmsEpsilon,
    cmsDelta: options.cmsDelta ?? d.cmsDelta,
    topPagesCapacity: options.topPagesCapacity ?? d.topPagesCapacity,
    hllPrecision: options.hllPrecision ?? d.hllPrecision,
    retentionMarginMs: options.retentionMarginMs ?? d.retentionMarginMs,
    retentionCheckIntervalMs: options.retentionCheckIntervalMs ?? d.retentionCheckIntervalMs,
    takeoverGraceMs: options.takeoverGraceMs ?? d.takeoverGraceMs,
    now: options.now ?? Date.now,
  };
  check(r.flushIntervalMs >= 10, 'flushIntervalMs', 'must be at least 10 ms', r.flushIntervalMs);
  check(r.allowedLatenessMs >= 0, 'allowedLatenessMs', 'must be >= 0', r.allowedLatenessMs);
  check(r.maxFutureSkewMs >= 0, 'maxFutureSkewMs', 'must be >= 0', r.maxFutureSkewMs);
  check(Number.isInteger(r.maxExactKeys) && r.maxExactKeys >= 0, 'maxExactKeys', 'must be a whole number >= 0', r.maxExactKeys);
  check(r.cmsEpsilon > 0 && r.cmsEpsilon < 1, 'cmsEpsilon', 'must be between 0 and 1', r.cmsEpsilon);
  check(r.cmsDelta > 0 && r.cmsDelta < 1, 'cmsDelta', 'must be between 0 and 1', r.cmsDelta);
  check(Number.isInteger(r.topPagesCapacity) && r.topPagesCapacity >= 1, 'topPagesCapacity', 'must be a whole number >= 1', r.topPagesCapacity);
  check(Number.isInteger(r.hllPrecision) && r.hllPrecision >= 4 && r.hllPrecision <= 18, 'hllPrecision', 'must be a whole number from 4 to 18', r.hllPrecision);
  check(r.retentionMarginMs >= 0, 'retentionMarginMs', 'must be >= 0', r.retentionMarginMs);
  check(r.retentionCheckIntervalMs >= 10, 'retentionCheckIntervalMs', 'must be at least 10 ms', r.retentionCheckIntervalMs);
  return r;
}
