/**
 * The events the benchmarks put in their topics: the platform's own traffic generator
 * (Zipf pages and visitors, seeded UUIDs), with event times and page sets chosen per benchmark.
 */
import { DEVICES, type PageView } from '../shared/core/page-view.ts';
import { TrafficGenerator, type TrafficOptions } from '../shared/tools/traffic-generator.ts';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Zipf traffic over `pages` pages, event times spread evenly over [from, to) in order of i. */
export function spreadEvents(count: number, from: number, to: number, options: TrafficOptions = {}): (i: number) => PageView {
  const generator = new TrafficGenerator(options);
  const span = to - from;
  return (i) => generator.next(from + Math.floor((i * span) / Math.max(1, count)));
}

/** Every one of `distinct` pages in turn (`/d/<n>`), with Zipf visitors, times spread over [from, to). */
export function distinctPageEvents(count: number, distinct: number, from: number, to: number, seed = 7): (i: number) => PageView {
  const generator = new TrafficGenerator({ seed });
  const span = to - from;
  return (i) => ({ ...generator.next(from + Math.floor((i * span) / Math.max(1, count))), pageId: `/d/${i % distinct}` });
}

/**
 * As {@link distinctPageEvents}, with schema v2 visit fields of `values` distinct values each:
 * event i has value k = i mod `values` of every property (source `s<k>`, referrer
 * `https://r<k>.example/`, utm_* `m<k>` `u<k>` `c<k>` `n<k>` `t<k>`, browser `b<k>` and its
 * version `<k>.0`, os `o<k>` and its version `<k>.1`). The schema bounds two of them: device is
 * one of the 4 DEVICES (k mod 4) and country two upper-case letters (k mod 676).
 */
export function distinctValueEvents(count: number, distinct: number, values: number, from: number, to: number, seed = 7): (i: number) => PageView {
  const pages = distinctPageEvents(count, distinct, from, to, seed);
  const A = 'A'.charCodeAt(0);
  return (i) => {
    const k = i % values;
    const c = k % (26 * 26);
    return {
      ...pages(i),
      schemaVersion: 2,
      source: `s${k}`,
      referrer: `https://r${k}.example/`,
      utmMedium: `m${k}`,
      utmSource: `u${k}`,
      utmCampaign: `c${k}`,
      utmContent: `n${k}`,
      utmTerm: `t${k}`,
      device: DEVICES[k % DEVICES.length]!,
      browser: `b${k}`,
      browserVersion: `${k}.0`,
      os: `o${k}`,
      osVersion: `${k}.1`,
      country: String.fromCharCode(A + Math.floor(c / 26), A + (c % 26)),
    };
  };
}

/** Distinct values each dimension gets from {@link distinctValueEvents} with `values` values (the schema caps device and country). */
export function distinctValueCounts(values: number): { text: number; device: number; country: number; total: number } {
  const device = Math.min(values, DEVICES.length);
  const country = Math.min(values, 26 * 26);
  // source, referrer, the five utm_*, browser, browser_version, os, os_version
  const text = 11 * values;
  return { text, device, country, total: text + device + country };
}

/**
 * One event per (page, hour) for `pages` pages over the `hours` hours before `end` (an hour
 * edge): the batch views then hold pages × hours rows. Pages are `/page/<n>` and `/`.
 */
export function gridEvents(pages: number, hours: number, end: number, seed = 11): (i: number) => PageView {
  return slotGrid(pages, hours, HOUR_MS, end, seed);
}

/**
 * One event per (page, day) for `pages` pages over the `days` days (of 24 h, counted back from
 * `end`) before `end`: pages × days events. Pages as in {@link gridEvents}.
 */
export function dailyGridEvents(pages: number, days: number, end: number, seed = 13): (i: number) => PageView {
  return slotGrid(pages, days, DAY_MS, end, seed);
}

/** Every page in turn, once per slot of `slotMs` over the `slots` slots before `end`, at a spread-out time in its slot. */
function slotGrid(pages: number, slots: number, slotMs: number, end: number, seed: number): (i: number) => PageView {
  const generator = new TrafficGenerator({ seed, pages });
  const first = end - slots * slotMs;
  return (i) => {
    const page = i % pages;
    const slot = Math.floor(i / pages);
    const event = generator.next(first + slot * slotMs + ((i * 7919) % slotMs));
    return { ...event, pageId: gridPage(page) };
  };
}

export function gridPage(n: number): string {
  return n === 0 ? '/' : `/page/${n}`;
}

/**
 * `count` request bodies of `size` events each (JSON arrays as the collector takes them), event
 * time now. The collector benchmark sends them over HTTP and its reference producer sends the
 * same events straight to Kafka.
 */
export function collectorBatches(count: number, size: number, now: number, seed = 5): PageView[][] {
  const generator = new TrafficGenerator({ seed });
  return Array.from({ length: count }, () => Array.from({ length: size }, () => generator.next(now)));
}
