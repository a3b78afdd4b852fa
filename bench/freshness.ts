/**
 * 2. Freshness: at a fixed production rate, the time from producing an event to seeing it
 * counted through the serving API, for current events and for events 10 and 90 minutes late.
 *
 * Workers: a traffic pump (the platform's TrafficPump, idempotent acks=all producer) at the
 * rate, a speed layer (default options, flush interval included) and the serving app, each in
 * its own process on one topic and one ClickHouse database. After a warm-up, this process sends
 * probe events, each for a page of its own, through a separate KafkaEventLog, and polls
 * `GET /api/v1/pages/:page/views?interval=minute&from=…` (the minute bucket of the probe's own
 * event time) every 50 ms until the probe is counted (every 500 ms after the first 2 s: a probe
 * that slow misses the target anyway, and 100 probes polling every 50 ms would load the API).
 * Freshness = visible − the moment the append was called (the poll spacing adds up to 50 ms).
 *
 * Each repetition sends the current probes (event time = now), then as many late probes
 * (event time = now − 10 min, as a mobile SDK flushing its queue would send them), then as many
 * 90 minutes late (always merged into stored rows: far behind the hot window). Issue #13:
 * p99 ≤ 1 s for each.
 */
import { SPEED_LAYER_DEFAULTS } from '../speed-layer/index.ts';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { KafkaEventLog } from '../shared/adapters/event-log/index.ts';
import { encodePageView, pageViewKey, type PageView } from '../shared/core/page-view.ts';
import { ClickHouseViewStore } from '../shared/adapters/view-store/index.ts';
import { MINUTE_MS } from './events.ts';
import { figure, type BenchResult, type Figure } from './figures.ts';
import { createTopic, sleep, topicSize, type BenchEnv, type Resources } from './harness.ts';
import type { Sizes } from './sizes.ts';
import { percentile } from './stats.ts';

const POLL_MS = 50;
/** After this long a probe is polled every SLOW_POLL_MS only. */
const SLOW_POLL_AFTER_MS = 2000;
const SLOW_POLL_MS = 500;
const PROBE_TIMEOUT_MS = 20_000;
/** How late the late probes are: their event time is this long before the moment they are sent. */
export const LATE_MS = 10 * MINUTE_MS;
/** Very late probes (issue #13's "events 90 minutes late"): always merged into stored rows, never in memory. */
export const VERY_LATE_MS = 90 * MINUTE_MS;
/** Issue #13: p99 for current and for late events. */
const P99_TARGET_MS = 1000;
/** The product's default flush interval: freshness is measured as users get it. */
const FLUSH_MS = SPEED_LAYER_DEFAULTS.flushIntervalMs;

interface Probe {
  /** append() called → resolved (acknowledged by Kafka). */
  ackMs: number;
  /** append() called → counted in the API's answer (or the timeout). */
  visibleMs: number;
  timedOut: boolean;
  polls: number;
}

async function probe(log: KafkaEventLog, port: number, pageId: string, index: number, lateMs: number): Promise<Probe> {
  const eventTime = Date.now() - lateMs;
  const event: PageView = { schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId, visitorId: `probe-${index}`, timestamp: eventTime };
  const minute = Math.floor(eventTime / MINUTE_MS) * MINUTE_MS;
  const url = `http://127.0.0.1:${port}/api/v1/pages/${encodeURIComponent(pageId)}/views?interval=minute&from=${minute}&to=${minute + 2 * MINUTE_MS}`;
  const started = performance.now();
  await log.append([{ key: pageViewKey(event), value: encodePageView(event) }]);
  const ackMs = performance.now() - started;
  let polls = 0;
  while (performance.now() - started < PROBE_TIMEOUT_MS) {
    polls += 1;
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const body = (await res.json()) as { total?: { views?: number }; error?: unknown };
    if (!res.ok) throw new Error(`probe query answered ${res.status}: ${JSON.stringify(body)}`);
    if ((body.total?.views ?? 0) >= 1) return { ackMs, visibleMs: performance.now() - started, timedOut: false, polls };
    await sleep(performance.now() - started < SLOW_POLL_AFTER_MS ? POLL_MS : SLOW_POLL_MS);
  }
  return { ackMs, visibleMs: PROBE_TIMEOUT_MS, timedOut: true, polls };
}

/** Sends `count` probes `everyMs` apart (overlapping), returns them in order. */
async function probes(log: KafkaEventLog, port: number, runId: string, label: string, count: number, everyMs: number, lateMs: number): Promise<Probe[]> {
  const pending: Promise<Probe>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const due = t0 + i * everyMs;
    await sleep(Math.max(0, due - performance.now()));
    pending.push(probe(log, port, `/bench-probe/${runId}/${label}/${i}`, i, lateMs));
  }
  return Promise.all(pending);
}

interface ProbeStats {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  ackP50: number;
  timeouts: number;
  polls: number;
}

function stats(got: Probe[]): ProbeStats {
  const visible = got.map((p) => p.visibleMs);
  return {
    p50: percentile(visible, 50),
    p95: percentile(visible, 95),
    p99: percentile(visible, 99),
    max: Math.max(...visible),
    ackP50: percentile(got.map((p) => p.ackMs), 50),
    timeouts: got.filter((p) => p.timedOut).length,
    polls: got.reduce((s, p) => s + p.polls, 0),
  };
}

const line = (s: ProbeStats): string =>
  `p50 ${s.p50.toFixed(0)} ms, p95 ${s.p95.toFixed(0)} ms, p99 ${s.p99.toFixed(0)} ms (append ack p50 ${s.ackP50.toFixed(0)} ms, ${s.timeouts} timeouts)`;

export async function benchFreshness(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const topic = res.topic();
  const database = res.database();
  await createTopic(env.brokers, topic);
  const store = new ClickHouseViewStore({ url: env.clickhouseUrl, database });
  await store.migrate();
  await store.close();
  const common = { BENCH_BROKERS: env.brokers.join(','), BENCH_CLICKHOUSE_URL: env.clickhouseUrl, BENCH_TOPIC: topic, BENCH_DATABASE: database };

  const speed = await res.worker('speed-live', { ...common, BENCH_GROUP: res.group(), BENCH_FLUSH_MS: FLUSH_MS });
  await speed.next('ready', 60_000);
  const serving = await res.worker('serving', common);
  const port = Number((await serving.next('ready', 60_000))['port']);
  const warmupProbes = Math.max(5, Math.round(sizes.freshProbes / 5));
  const windowMs = (n: number): number => n * sizes.probeEveryMs + PROBE_TIMEOUT_MS;
  // Warm-up (current and late probes at once), then per repetition the current probes and the late ones.
  const pumpMs = sizes.freshWarmupS * 1000 + windowMs(warmupProbes) + env.reps * 3 * windowMs(sizes.freshProbes) + 30_000;
  // One pump per 25k events/s (each a process with its own producer, as collectors would be).
  const pumpCount = Math.ceil(sizes.freshRate / 25_000);
  const pumps = [];
  for (let i = 0; i < pumpCount; i++) {
    pumps.push(await res.worker('pump', { ...common, BENCH_RATE: sizes.freshRate / pumpCount, BENCH_DURATION_MS: pumpMs, BENCH_SEED: 42 + i }));
  }
  for (const pump of pumps) await pump.next('ready', 60_000);

  const probeLog = new KafkaEventLog({ brokers: env.brokers, topic, clientId: 'pv-bench-probe' });
  res.onCleanup(() => probeLog.close());
  await probeLog.ensureTopic();
  const runId = randomUUID().slice(0, 8);
  env.say(`  producing ${sizes.freshRate.toLocaleString('en')} events/s; warm-up ${sizes.freshWarmupS} s + ${warmupProbes} current and ${warmupProbes} late probes`);
  await sleep(sizes.freshWarmupS * 1000);
  await Promise.all([
    probes(probeLog, port, runId, 'warmup', warmupProbes, sizes.probeEveryMs, 0),
    probes(probeLog, port, runId, 'warmup-late', warmupProbes, sizes.probeEveryMs, LATE_MS),
  ]);

  const reps: (ProbeStats & { rate: number; late: ProbeStats; veryLate: ProbeStats })[] = [];
  const all: { current: Probe[]; late: Probe[]; veryLate: Probe[] }[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    // The production rate actually reached during the repetition, from the topic's end offsets.
    const before = { at: performance.now(), size: await topicSize(env.brokers, topic) };
    const current = await probes(probeLog, port, runId, `r${rep}`, sizes.freshProbes, sizes.probeEveryMs, 0);
    const late = await probes(probeLog, port, runId, `r${rep}-late`, sizes.freshProbes, sizes.probeEveryMs, LATE_MS);
    const veryLate = await probes(probeLog, port, runId, `r${rep}-late90`, sizes.freshProbes, sizes.probeEveryMs, VERY_LATE_MS);
    const rate = ((await topicSize(env.brokers, topic)) - before.size) / ((performance.now() - before.at) / 1000);
    all.push({ current, late, veryLate });
    const r = { ...stats(current), rate, late: stats(late), veryLate: stats(veryLate) };
    reps.push(r);
    env.say(`  rep ${rep + 1}: current ${line(r)}; ${Math.round(rate).toLocaleString('en')} events/s produced`);
    env.say(`  rep ${rep + 1}: 10 min late ${line(r.late)}`);
    env.say(`  rep ${rep + 1}: 90 min late ${line(r.veryLate)}`);
  }
  const pumped = [];
  for (const pump of pumps) {
    await pump.stop();
    pumped.push(await pump.next('result', 30_000));
  }
  const achieved = Math.min(...reps.map((r) => r.rate));
  await speed.stop(30_000);
  const speedResult = await speed.next('result', 5000).catch(() => null);
  const timeline = (speedResult?.['timeline'] ?? []) as { at: number; flushes: number; meanFlushMs: number; rows: number; sketchBytes: number }[];
  for (let i = 0; i < timeline.length; i += 6) {
    const window = timeline.slice(i, i + 6);
    const flushes = window.reduce((s, w) => s + w.flushes, 0);
    const meanMs = flushes === 0 ? 0 : window.reduce((s, w) => s + w.meanFlushMs * w.flushes, 0) / flushes;
    const seconds = window.length * 5;
    env.say(
      `  speed ${new Date(window[0]!.at).toISOString().slice(11, 19)}+${seconds}s: ${flushes} flushes, mean ${meanMs.toFixed(0)} ms, ` +
        `${Math.round(window.reduce((s, w) => s + w.rows, 0) / seconds)} rows/s, ${(window.reduce((s, w) => s + w.sketchBytes, 0) / seconds / 1e6).toFixed(1)} MB of sketches/s`,
    );
  }

  const rateText = sizes.freshRate.toLocaleString('en');
  const ref = { name: `flush interval (${FLUSH_MS} ms)`, values: reps.map(() => FLUSH_MS), meaning: 'freshness / flush interval' };
  const p99 = figure(`Freshness p99 at ${rateText} events/s`, 'ms', 'lower', reps.map((r) => r.p99), ref);
  const lateRef = { name: `current events' p99 (same run)`, values: reps.map((r) => r.p99), meaning: 'late / current (p99)' };
  const lateP99 = figure(`Freshness p99 at ${rateText} events/s, events 10 minutes late`, 'ms', 'lower', reps.map((r) => r.late.p99), lateRef);
  const veryLateP99 = figure(`Freshness p99 at ${rateText} events/s, events 90 minutes late`, 'ms', 'lower', reps.map((r) => r.veryLate.p99), lateRef);
  const rateOk = achieved >= 0.95 * sizes.freshRate;
  const undecided = sizes.freshRate < 20_000 ? ` (rate below the target's 20k: not decided)` : rateOk ? '' : ' (the pump fell short of the rate: not decided)';
  const decidable = sizes.freshRate >= 20_000 && rateOk;
  const timeouts = (pick: (r: (typeof reps)[number]) => ProbeStats): string => {
    const n = reps.reduce((s, r) => s + pick(r).timeouts, 0);
    return n === 0 ? '' : `; ${n} of ${reps.length * sizes.freshProbes} probes not visible within ${PROBE_TIMEOUT_MS / 1000} s`;
  };
  const target = (f: Figure, text: string, before: string, pick: (r: (typeof reps)[number]) => ProbeStats): void => {
    f.target = {
      text,
      before,
      met: decidable ? f.value.median <= P99_TARGET_MS : null,
      why: `median p99 ${f.value.median.toFixed(0)} ms${timeouts(pick)}, at least ${Math.round(achieved).toLocaleString('en')} events/s produced in every repetition${undecided}`,
    };
  };
  target(p99, `freshness p99 ≤ ${P99_TARGET_MS / 1000} s at 20k events/s`, '627 ms', (r) => r);
  target(lateP99, `freshness p99 ≤ ${P99_TARGET_MS / 1000} s at 20k events/s for events 10 minutes late`, 'not counted (late events were left to the batch layer)', (r) => r.late);
  target(veryLateP99, `freshness p99 ≤ ${P99_TARGET_MS / 1000} s at 20k events/s for events 90 minutes late`, 'not counted (late events were left to the batch layer)', (r) => r.veryLate);
  return {
    id: 'freshness',
    title: 'Freshness (produce → visible through the API)',
    figures: [
      figure(`Freshness p50 at ${rateText} events/s`, 'ms', 'lower', reps.map((r) => r.p50), ref),
      figure(`Freshness p95 at ${rateText} events/s`, 'ms', 'lower', reps.map((r) => r.p95), ref),
      p99,
      figure(`Freshness p50 at ${rateText} events/s, events 10 minutes late`, 'ms', 'lower', reps.map((r) => r.late.p50), ref),
      lateP99,
      figure(`Freshness p50 at ${rateText} events/s, events 90 minutes late`, 'ms', 'lower', reps.map((r) => r.veryLate.p50), ref),
      veryLateP99,
    ],
    details: {
      speedTimeline: timeline,
      targetRate: sizes.freshRate,
      achievedRate: achieved,
      probesPerRep: sizes.freshProbes,
      probeEveryMs: sizes.probeEveryMs,
      pollMs: POLL_MS,
      slowPollAfterMs: SLOW_POLL_AFTER_MS,
      slowPollMs: SLOW_POLL_MS,
      probeTimeoutMs: PROBE_TIMEOUT_MS,
      lateMs: LATE_MS,
      flushIntervalMs: FLUSH_MS,
      reps,
      probes: all.map((got) => got.current.map((p) => Math.round(p.visibleMs))),
      lateProbes: all.map((got) => got.late.map((p) => Math.round(p.visibleMs))),
      veryLateMs: VERY_LATE_MS,
      veryLateProbes: all.map((got) => got.veryLate.map((p) => Math.round(p.visibleMs))),
      pump: pumped,
      speed: speedResult,
    },
    notes: [
      `Production: ${pumpCount} TrafficPump worker(s) for ${rateText} events/s in all, 10 appends/s each (reached, from the topic's end offsets: ${reps.map((r) => Math.round(r.rate).toLocaleString('en')).join(', ')} events/s); ` +
        `per repetition ${sizes.freshProbes} current probes, then ${sizes.freshProbes} probes 10 minutes late and ${sizes.freshProbes} probes 90 minutes late, one every ${sizes.probeEveryMs} ms.`,
      `A late probe's event time is ${LATE_MS / MINUTE_MS} minutes before it is sent; it is a page of its own and is polled in the minute bucket of its own event time. ` +
        `A probe not visible within ${PROBE_TIMEOUT_MS / 1000} s counts as ${PROBE_TIMEOUT_MS / 1000} s.`,
      `With a ${FLUSH_MS} ms flush interval an event waits up to one interval before its checkpoint, so p99 cannot be much below the interval plus the write.`,
    ],
  };
}
