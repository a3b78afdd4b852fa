/**
 * Workloads with known answers: deterministic page-view traffic (Zipf pages, returning
 * visitors) with configurable rates of redelivered duplicates, out-of-order events, late
 * events (appended long after their time), invalid records and clock skew (events from the
 * future). Alongside the log messages it computes, independently of the batch and speed code:
 *
 * - `batch`: the exact answer (deduplicated by eventId, invalid and future events excluded,
 *   late events in their own bucket), per (page, hour) and per day, with distinct visitors;
 * - `speed`: what the speed layer should count given its documented policy — every valid
 *   event not too far in the future, late ones included, without deduplication (the speed
 *   layer runs before any batch boundary here) — per (page, hour), and the distinct visitors.
 *
 * Used by the accuracy suite, and usable by the generator and benchmarks.
 */
import type { LogMessage } from '../adapters/event-log/index.ts';
import { encodePageView, pageViewKey, type PageView } from '../core/page-view.ts';
import { TrafficGenerator, mulberry32 } from './traffic-generator.ts';
import { bucketStart } from '../core/time-buckets.ts';

export interface WorkloadOptions {
  seed: number;
  /** Distinct events (before duplicates and invalid records are added). */
  events: number;
  pages: number;
  visitors: number;
  /** Zipf exponent of page popularity; 0 = uniform. */
  pageSkew: number;
  /** First event time (epoch ms) and the span events are spread over. */
  start: number;
  durationMs: number;
  /** Batch cutoff: events at or after it are not in the batch truth. */
  cutoff: number;
  /** Share of events appended a second time, later in the log. */
  duplicateRate?: number;
  /** Share of events displaced a little (by up to a quarter of `latenessMs`). */
  outOfOrderRate?: number;
  /** Share of events appended long after their time (5 to 35 minutes beyond `latenessMs`). */
  lateRate?: number;
  /** Invalid records per event. */
  invalidRate?: number;
  /** Share of events stamped far in the future (clock skew; dead-lettered by the speed layer). */
  futureRate?: number;
  /** Bursts: share of events packed into a few short spikes. */
  burstRate?: number;
  partitions: number;
  /** Scale of the lateness of out-of-order and late events (ms). */
  latenessMs: number;
  maxFutureSkewMs: number;
  /** The wall clock the speed layer will see (for the future check). */
  now: number;
}

export interface WorkloadTruth {
  /** Exact, deduplicated page views per `${pageId}|${hourStart}` before the cutoff. */
  batchPageHours: Map<string, number>;
  batchSiteHours: Map<number, number>;
  batchVisitors: Set<string>;
  batchVisitorsByDay: Map<number, Set<string>>;
  /** What the speed layer counts, per `${pageId}|${hourStart}` (all times). */
  speedPageHours: Map<string, number>;
  speedSiteHours: Map<number, number>;
  /** Distinct visitors of the events the speed layer counts, per hour. */
  speedVisitorsByHour: Map<number, Set<string>>;
  counts: { events: number; duplicates: number; late: number; invalid: number; future: number; outOfOrder: number };
}

export interface Workload {
  messages: LogMessage[];
  truth: WorkloadTruth;
}

const inc = <K>(m: Map<K, number>, k: K, n = 1): void => void m.set(k, (m.get(k) ?? 0) + n);

export function makeWorkload(o: WorkloadOptions): Workload {
  const random = mulberry32(o.seed ^ 0x5bd1e995);
  const generator = new TrafficGenerator({ seed: o.seed, pages: o.pages, visitors: o.visitors, pageSkew: o.pageSkew });
  const counts = { events: o.events, duplicates: 0, late: 0, invalid: 0, future: 0, outOfOrder: 0 };

  // Event times, in order, with optional bursts.
  const bursts = Array.from({ length: 3 }, () => o.start + Math.floor(random() * o.durationMs));
  const times: number[] = [];
  for (let i = 0; i < o.events; i++) {
    const inBurst = random() < (o.burstRate ?? 0);
    times.push(inBurst ? bursts[i % bursts.length]! + Math.floor(random() * 5000) : o.start + Math.floor(random() * o.durationMs));
  }
  times.sort((a, b) => a - b);

  // Log positions: by event time, then displaced ones; appended position = time + delay.
  interface Entry {
    event: PageView;
    at: number;
    seq: number;
  }
  const entries: Entry[] = [];
  let seq = 0;
  for (const t of times) {
    let event = generator.next(t);
    let at = t;
    const r = random();
    if (r < (o.futureRate ?? 0)) {
      event = { ...event, timestamp: o.now + o.maxFutureSkewMs + 3_600_000 };
      counts.future += 1;
    } else if (r < (o.futureRate ?? 0) + (o.lateRate ?? 0)) {
      at = t + o.latenessMs + 5 * 60_000 + Math.floor(random() * 30 * 60_000);
      counts.late += 1;
    } else if (r < (o.futureRate ?? 0) + (o.lateRate ?? 0) + (o.outOfOrderRate ?? 0)) {
      at = t + Math.floor(random() * (o.latenessMs / 4));
      counts.outOfOrder += 1;
    }
    entries.push({ event, at, seq: seq++ });
    if (random() < (o.duplicateRate ?? 0)) {
      entries.push({ event, at: at + Math.floor(random() * 60_000), seq: seq++ });
      counts.duplicates += 1;
    }
  }
  entries.sort((a, b) => a.at - b.at || a.seq - b.seq);

  const messages: LogMessage[] = [];
  for (const e of entries) {
    messages.push({ key: pageViewKey(e.event), value: encodePageView(e.event) });
    if (random() < (o.invalidRate ?? 0)) {
      messages.push({ key: null, value: random() < 0.5 ? '{"truncated":' : JSON.stringify({ ...e.event, visitorId: '' }) });
      counts.invalid += 1;
    }
  }

  const truth: WorkloadTruth = {
    batchPageHours: new Map(),
    batchSiteHours: new Map(),
    batchVisitors: new Set(),
    batchVisitorsByDay: new Map(),
    speedPageHours: new Map(),
    speedSiteHours: new Map(),
    speedVisitorsByHour: new Map(),
    counts,
  };
  // Batch truth: each distinct event once, if valid, not from the future, before the cutoff.
  const seen = new Set<string>();
  for (const e of entries) {
    const ev = e.event;
    if (seen.has(ev.eventId)) continue;
    seen.add(ev.eventId);
    if (ev.timestamp >= o.cutoff) continue;
    const hour = bucketStart(ev.timestamp, 'hour');
    inc(truth.batchPageHours, `${ev.pageId}|${hour}`);
    inc(truth.batchSiteHours, hour);
    truth.batchVisitors.add(ev.visitorId);
    const day = bucketStart(ev.timestamp, 'day');
    truth.batchVisitorsByDay.set(day, (truth.batchVisitorsByDay.get(day) ?? new Set()).add(ev.visitorId));
  }
  // Speed truth: every event not dead-lettered, however late, no deduplication.
  for (const e of entries) {
    const ev = e.event;
    if (ev.timestamp > o.now + o.maxFutureSkewMs) continue; // dead-lettered
    const hour = bucketStart(ev.timestamp, 'hour');
    inc(truth.speedPageHours, `${ev.pageId}|${hour}`);
    inc(truth.speedSiteHours, hour);
    truth.speedVisitorsByHour.set(hour, (truth.speedVisitorsByHour.get(hour) ?? new Set()).add(ev.visitorId));
  }
  return { messages, truth };
}
