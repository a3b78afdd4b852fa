import { PlatformError } from '../shared/errors.ts';

export interface SpeedLayerOptions {
  /**
   * Consumer group of the speed layer; instances with the same group share partitions.
   * @default 'pv-speed-layer'
   */
  groupId?: string;
  /**
   * How often changed counters and checkpoints are written (ms). This is also the
   * freshness of the speed views for a separate serving process.
   * @default 1000
   */
  flushIntervalMs?: number;
  /**
   * Allowed lateness (ms): the watermark is the highest event time seen minus this.
   * Events for minute buckets behind the watermark are counted as late and left to the batch layer.
   * @default 120000
   */
  allowedLatenessMs?: number;
}

export type ResolvedSpeedLayerOptions = Required<SpeedLayerOptions>;

export const SPEED_LAYER_DEFAULTS: ResolvedSpeedLayerOptions = {
  groupId: 'pv-speed-layer',
  flushIntervalMs: 1000,
  allowedLatenessMs: 120_000,
};

export function resolveSpeedLayerOptions(options: SpeedLayerOptions): ResolvedSpeedLayerOptions {
  const resolved: ResolvedSpeedLayerOptions = {
    groupId: options.groupId ?? SPEED_LAYER_DEFAULTS.groupId,
    flushIntervalMs: options.flushIntervalMs ?? SPEED_LAYER_DEFAULTS.flushIntervalMs,
    allowedLatenessMs: options.allowedLatenessMs ?? SPEED_LAYER_DEFAULTS.allowedLatenessMs,
  };
  if (!(resolved.flushIntervalMs >= 10)) {
    throw new PlatformError('PV_CONFIG_INVALID', `speed layer flushIntervalMs must be at least 10 ms, got ${resolved.flushIntervalMs}`);
  }
  if (!(resolved.allowedLatenessMs >= 0)) {
    throw new PlatformError('PV_CONFIG_INVALID', `speed layer allowedLatenessMs must be >= 0, got ${resolved.allowedLatenessMs}`);
  }
  return resolved;
}
