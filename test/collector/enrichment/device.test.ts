import { describe, expect, it } from 'vitest';
import { deviceFromAgentType, deviceFromWidth } from '../../../collector/enrichment/device.ts';

describe('deviceFromWidth', () => {
  it.each([
    [0, 'Mobile'],
    [320, 'Mobile'],
    [575, 'Mobile'],
    [575.9, 'Mobile'],
    [576, 'Tablet'],
    [991, 'Tablet'],
    [992, 'Laptop'],
    [1439, 'Laptop'],
    [1440, 'Desktop'],
    [3840, 'Desktop'],
  ])('%d px is %s (Plausible)', (width, device) => {
    expect(deviceFromWidth(width)).toBe(device);
  });

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], ['1024'], [null], [undefined]])('%s gives no device', (width) => {
    expect(deviceFromWidth(width)).toBeUndefined();
  });
});

describe('deviceFromAgentType', () => {
  it.each([
    ['mobile', 'Mobile'],
    ['tablet', 'Tablet'],
    ['console', 'Desktop'],
    ['smarttv', 'Desktop'],
    ['wearable', 'Desktop'],
    [undefined, 'Desktop'],
  ])('%s is %s', (type, device) => {
    expect(deviceFromAgentType(type)).toBe(device);
  });
});
