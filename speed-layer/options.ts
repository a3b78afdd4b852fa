import { PlatformError } from '../shared/core/errors.ts';
import { ENVIRONMENT_VARIABLES as ENV, milliseconds, wholeNumber, type NumberKind } from '../shared/runtime/environment.ts';

export interface SpeedLayerOptions {
  /**
   * Consumer group of the speed layer; instances with the same group share partitions.
   * @default 'pv-speed-layer'
   */
  groupId?: string;
  /**
   * How often changed counters and checkpoints are written under load (ms). This is also the
   * freshness of the speed views for a separate serving process.
   * @default SPEED_FLUSH_INTERVAL_MS's default
   */
  flushIntervalMs?: number;
  /**
   * Longest flush interval (ms). After a flush of fewer than `BUSY_EVENTS` events the next
   * interval doubles, up to this; once that many events arrive it drops back to `flushIntervalMs`.
   * @default SPEED_FLUSH_IDLE_INTERVAL_MS's default
   */
  flushIdleIntervalMs?: number;
  /**
   * How often the visitor sketches of pages (per page and hour) are written (ms); everything
   * else is written every flush. After a restart the log is replayed from the last time they
   * were written, for their visitors only. 0: every flush.
   * @default SPEED_SKETCH_INTERVAL_MS's default
   */
  sketchIntervalMs?: number;
  /**
   * Minute buckets younger than this (by the wall clock) stay in memory. Events for older
   * minutes (after the batch boundary) are counted too: in the late lane at the next flush.
   * @default SPEED_HOT_WINDOW_MS's default
   */
  hotWindowMs?: number;
  /**
   * Estimated bytes of state (all partitions of this speed layer). Beyond it, new pages of a
   * minute go to its Count-Min and top-pages sketches, as beyond `maxExactKeys`.
   * @default SPEED_MEMORY_BUDGET_MB's default, in bytes
   */
  memoryBudgetBytes?: number;
  /**
   * Events more than this far ahead of the wall clock (ms) are rejected to the dead-letter topic.
   * @default SPEED_MAX_FUTURE_SKEW_MS's default
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
   * @default SPEED_MAX_EXACT_KEYS's default (25000 is about 20 MiB per partition)
   */
  maxExactKeys?: number;
  /** Count-Min ε: a page's estimate overcounts by at most ε × (overflow events). @default SPEED_CMS_EPSILON's default */
  cmsEpsilon?: number;
  /** Count-Min δ: the bound holds with probability 1 − δ. @default SPEED_CMS_DELTA's default */
  cmsDelta?: number;
  /** Pages kept by each minute's Space-Saving summary of overflow pages. @default 1000 */
  topPagesCapacity?: number;
  /**
   * Keep the dimension views: views and visitors per value of each visit property
   * (shared/core/dimensions.ts), with a key budget of their own and the byte budget shared with the page views.
   * @default true
   */
  dimensions?: boolean;
  /**
   * Keep sessions: each visitor's open session and the visits, bounces, duration and page views of
   * sessions by start minute, per site and per entry and exit page (speed-layer/session-state.ts),
   * in the byte budget shared with the page views.
   * @default true
   */
  sessions?: boolean;
  /**
   * HyperLogLog precision p: standard error 1.04 / √(2^p). Must be the batch layer's precision
   * (HLL_BATCH_PRECISION): visitor unions across the batch boundary need equal precisions.
   * @default HLL_BATCH_PRECISION
   */
  hllPrecision?: number;
  /**
   * Speed buckets are kept from the latest batch boundary minus this margin (for speed-vs-batch
   * comparison); older days are dropped once a batch run has covered them.
   * @default SPEED_RETENTION_MARGIN_MS's default
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

/**
 * Defaults. An option that an environment variable also sets takes that variable's default
 * (shared/runtime/environment.ts), so the number is written once.
 */
export const SPEED_LAYER_DEFAULTS = {
  groupId: 'pv-speed-layer',
  flushIntervalMs: ENV.SPEED_FLUSH_INTERVAL_MS.default,
  flushIdleIntervalMs: ENV.SPEED_FLUSH_IDLE_INTERVAL_MS.default,
  hotWindowMs: ENV.SPEED_HOT_WINDOW_MS.default,
  sketchIntervalMs: ENV.SPEED_SKETCH_INTERVAL_MS.default,
  memoryBudgetBytes: ENV.SPEED_MEMORY_BUDGET_MB.default * 1024 * 1024,
  maxFutureSkewMs: ENV.SPEED_MAX_FUTURE_SKEW_MS.default,
  maxExactKeys: ENV.SPEED_MAX_EXACT_KEYS.default,
  cmsEpsilon: ENV.SPEED_CMS_EPSILON.default,
  cmsDelta: ENV.SPEED_CMS_DELTA.default,
  topPagesCapacity: 1000,
  dimensions: true,
  sessions: true,
  hllPrecision: ENV.SPEED_HLL_PRECISION.default,
  retentionMarginMs: ENV.SPEED_RETENTION_MARGIN_MS.default,
  retentionCheckIntervalMs: 60_000,
  takeoverGraceMs: 3000,
} as const;

/**
 * What each numeric option allows. An option that an environment variable also sets has
 * that variable's range: loadConfig and the speed layer check the same one.
 */
export const SPEED_LAYER_LIMITS = {
  flushIntervalMs: ENV.SPEED_FLUSH_INTERVAL_MS.kind,
  flushIdleIntervalMs: ENV.SPEED_FLUSH_IDLE_INTERVAL_MS.kind,
  hotWindowMs: ENV.SPEED_HOT_WINDOW_MS.kind,
  sketchIntervalMs: ENV.SPEED_SKETCH_INTERVAL_MS.kind,
  memoryBudgetBytes: wholeNumber(1024 * 1024),
  maxFutureSkewMs: ENV.SPEED_MAX_FUTURE_SKEW_MS.kind,
  maxExactKeys: ENV.SPEED_MAX_EXACT_KEYS.kind,
  cmsEpsilon: ENV.SPEED_CMS_EPSILON.kind,
  cmsDelta: ENV.SPEED_CMS_DELTA.kind,
  topPagesCapacity: wholeNumber(1),
  hllPrecision: ENV.SPEED_HLL_PRECISION.kind,
  retentionMarginMs: ENV.SPEED_RETENTION_MARGIN_MS.kind,
  retentionCheckIntervalMs: milliseconds(10),
  takeoverGraceMs: milliseconds(0),
} as const satisfies Partial<Record<keyof ResolvedSpeedLayerOptions, NumberKind>>;

export function resolveSpeedLayerOptions(options: SpeedLayerOptions): ResolvedSpeedLayerOptions {
  const d = SPEED_LAYER_DEFAULTS;
  const r: ResolvedSpeedLayerOptions = {
    groupId: options.groupId ?? d.groupId,
    flushIntervalMs: options.flushIntervalMs ?? d.flushIntervalMs,
    flushIdleIntervalMs: Math.max(options.flushIdleIntervalMs ?? d.flushIdleIntervalMs, options.flushIntervalMs ?? d.flushIntervalMs),
    hotWindowMs: options.hotWindowMs ?? d.hotWindowMs,
    sketchIntervalMs: options.sketchIntervalMs ?? d.sketchIntervalMs,
    memoryBudgetBytes: options.memoryBudgetBytes ?? d.memoryBudgetBytes,
    maxFutureSkewMs: options.maxFutureSkewMs ?? d.maxFutureSkewMs,
    deadLetterTopic: options.deadLetterTopic ?? null,
    maxExactKeys: options.maxExactKeys ?? d.maxExactKeys,
    cmsEpsilon: options.cmsEpsilon ?? d.cmsEpsilon,
    cmsDelta: options.cmsDelta ?? d.cmsDelta,
    topPagesCapacity: options.topPagesCapacity ?? d.topPagesCapacity,
    dimensions: options.dimensions ?? d.dimensions,
    sessions: options.sessions ?? d.sessions,
    hllPrecision: options.hllPrecision ?? d.hllPrecision,
    retentionMarginMs: options.retentionMarginMs ?? d.retentionMarginMs,
    retentionCheckIntervalMs: options.retentionCheckIntervalMs ?? d.retentionCheckIntervalMs,
    takeoverGraceMs: options.takeoverGraceMs ?? d.takeoverGraceMs,
    now: options.now ?? Date.now,
  };
  for (const [option, limit] of Object.entries(SPEED_LAYER_LIMITS)) {
    const value = r[option as keyof typeof SPEED_LAYER_LIMITS];
    const issue = limit.schema.safeParse(value).error?.issues[0];
    if (issue !== undefined) throw new PlatformError('PV_CONFIG_INVALID', `speed layer option '${option}' ${issue.message}, got ${String(value)}`);
  }
  return r;
}
