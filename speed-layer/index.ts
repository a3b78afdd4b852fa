/** The speed layer's public interface. */
export { DEAD_LETTER_HEADERS, SpeedLayer } from './speed-layer.ts';
export { SPEED_LAYER_DEFAULTS, resolveSpeedLayerOptions, type ResolvedSpeedLayerOptions, type SpeedLayerOptions } from './options.ts';
