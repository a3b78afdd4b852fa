/**
 * The `device` visit field: from the page's width (window.innerWidth, Plausible's `w`) with
 * Plausible's thresholds; without a width (server-side events), from the user agent's device
 * type.
 */

import type { Device } from '../../shared/core/page-view.ts';

/** Plausible's breakpoints: a width below each is that device. */
export const DEVICE_WIDTHS = { mobileBelow: 576, tabletBelow: 992, laptopBelow: 1440 } as const;

/** The device for a width in CSS pixels; undefined for a width that is not a finite number ≥ 0. */
export function deviceFromWidth(width: unknown): Device | undefined {
  if (typeof width !== 'number' || !Number.isFinite(width) || width < 0) return undefined;
  if (width < DEVICE_WIDTHS.mobileBelow) return 'Mobile';
  if (width < DEVICE_WIDTHS.tabletBelow) return 'Tablet';
  if (width < DEVICE_WIDTHS.laptopBelow) return 'Laptop';
  return 'Desktop';
}

/**
 * The device for ua-parser-js's device type: mobile → Mobile, tablet → Tablet, anything else
 * (none, console, smarttv, wearable, embedded, xr) → Desktop.
 */
export function deviceFromAgentType(type: string | undefined): Device {
  return type === 'mobile' ? 'Mobile' : type === 'tablet' ? 'Tablet' : 'Desktop';
}
