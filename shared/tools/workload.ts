/**
 * Workloads with known answers: deterministic page-view traffic (Zipf pages, returning
 * visitors) with configurable rates of redelivered duplicates, out-of-order events, late
 * events (behind the speed layer's watermark), invalid records and clock skew (events from the
 * future). Alongside the log messages it computes, independently of the batch and speed code:
 *
 * - `batch`: the exact answer (deduplicated by eventId, invalid and future events excluded,
 *   late events in their own bucket), per (page, hour) and per day, with distinct visitors;
 * - `speed`: what the speed layer should count given its documented policy — no
 *   deduplication, late events left out, per-partition watermarks (partitioned like Kafka:
 *   murmur2 of the key) — per (page, hour), and the distinct visitors it saw.
 *
 * Used by the accuracy suite, and usable by the generator and benchmarks.
 */
import { partitionForKey, type LogMessage } from '../adapters/event-log/index.ts';
import { encodePageView, pageViewKey, type PageView } from '../core/page-view.ts';
import { TrafficGenerator, mulberry32 } from './traffic-generator.ts';
import { INTERVAL_MS, bucketStart } from '../core/time-buckets.ts';

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
  /** Share of events displaced a little (within the allowed lateness). */
  outOfOrderRate?: number;
  /** Share of events appended long after their time (behind the watermark). */
  lateRate?: number;
  /** Invalid records per event. */
  invalidRate?: number;
  /** Share of events stamped far in the future (clock skew; dead-lettered by the speed layer). */
  futureRate?: number;
  /** Bursts: share of events packed into a few short spikes. */
  burstRate?: number;
  partitions: number;
  allowedLatenessMs: number;
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
      at = t + o.allowedLatenessMs + 5 * 60_000 + Math.floor(random() * 30 * 60_000);
      counts.late += 1;
    } else if (r < (o.futureRate ?? 0) + (o.lateRate ?? 0) + (o.outOfOrderRate ?? 0)) {
      at = t + Math.floor(random() * (o.allowedLatenessMs / 4));
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
  // Speed truth: log order per partition, its watermark, no deduplication.
  const maxEventTime = new Map<number, number>();
  for (const e of entries) {
    const ev = e.event;
    if (ev.timestamp > o.now + o.maxFutureSkewMs) continue; // dead-lettered
    const partition = partitionForKey(pageViewKey(ev), o.partitions);
    const max = maxEventTime.get(partition) ?? Number.NEGATIVE_INFINITY;
    if (bucketStart(ev.timestamp, 'minute') + INTERVAL_MS.minute <= max - o.allowedLatenessMs) continue; // late
    if (ev.timestamp > max) maxEventTime.set(partition, ev.timestamp);
    const hour = bucketStart(ev.timestamp, 'hour');
    inc(truth.speedPageHours, `${ev.pageId}|${hour}`);
    inc(truth.speedSiteHours, hour);
    truth.speedVisitorsByHour.set(hour, (truth.speedVisitorsByHour.get(hour) ?? new Set()).add(ev.visitorId));
  }
  return { messages, truth };
}
