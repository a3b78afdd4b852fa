/**
 * 2. Freshness: at a fixed production rate, the time from producing an event to seeing it
 * counted through the serving API.
 *
 * Workers: a traffic pump (the platform's TrafficPump, idempotent acks=all producer) at the
 * rate, a speed layer (default options: flush every 1 s) and the serving app, each in its own
 * process on one topic and one ClickHouse database. After a warm-up, this process sends probe
 * events, each for a page of its own, through a separate KafkaEventLog, and polls
 * `GET /api/v1/pages/:page/views?interval=minute&from=…` every 50 ms until the probe is counted.
 * Freshness = visible − the moment the append was called (the poll spacing adds up to 50 ms).
 */
import { SPEED_LAYER_DEFAULTS } from '../speed-layer/index.ts';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { KafkaEventLog } from '../shared/adapters/event-log/index.ts';
import { encodePageView, pageViewKey, type PageView } from '../shared/core/page-view.ts';
import { ClickHouseViewStore } from '../shared/adapters/view-store/index.ts';
import { MINUTE_MS } from './events.ts';
import { figure, type BenchResult } from './figures.ts';
import { createTopic, sleep, topicSize, type BenchEnv, type Resources } from './harness.ts';
import type { Sizes } from './sizes.ts';
import { percentile } from './stats.ts';

const POLL_MS = 50;
const PROBE_TIMEOUT_MS = 20_000;
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

async function probe(log: KafkaEventLog, port: number, pageId: string, index: number): Promise<Probe> {
  const now = Date.now();
  const event: PageView = { schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId, visitorId: `probe-${index}`, timestamp: now };
  const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
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
    await sleep(POLL_MS);
  }
  return { ackMs, visibleMs: PROBE_TIMEOUT_MS, timedOut: true, polls };
}

/** Sends `count` probes `everyMs` apart (overlapping), returns them in order. */
async function probes(log: KafkaEventLog, port: number, runId: string, label: string, count: number, everyMs: number): Promise<Probe[]> {
  const pending: Promise<Probe>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const due = t0 + i * everyMs;
    await sleep(Math.max(0, due - performance.now()));
    pending.push(probe(log, port, `/bench-probe/${runId}/${label}/${i}`, i));
  }
  return Promise.all(pending);
}

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
  const pumpMs = sizes.freshWarmupS * 1000 + windowMs(warmupProbes) + env.reps * windowMs(sizes.freshProbes) + 30_000;
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
  env.say(`  producing ${sizes.freshRate.toLocaleString('en')} events/s; warm-up ${sizes.freshWarmupS} s + ${warmupProbes} probes`);
  await sleep(sizes.freshWarmupS * 1000);
  await probes(probeLog, port, runId, 'warmup', warmupProbes, sizes.probeEveryMs);

  const reps: { p50: number; p95: number; p99: number; max: number; ackP50: number; timeouts: number; polls: number; rate: number }[] = [];
  const all: Probe[][] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    // The production rate actually reached during the repetition, from the topic's end offsets.
    const before = { at: performance.now(), size: await topicSize(env.brokers, topic) };
    const got = await probes(probeLog, port, runId, `r${rep}`, sizes.freshProbes, sizes.probeEveryMs);
    const rate = ((await topicSize(env.brokers, topic)) - before.size) / ((performance.now() - before.at) / 1000);
    all.push(got);
    const visible = got.map((p) => p.visibleMs);
    const r = {
      p50: percentile(visible, 50),
      p95: percentile(visible, 95),
      p99: percentile(visible, 99),
      max: Math.max(...visible),
      ackP50: percentile(got.map((p) => p.ackMs), 50),
      timeouts: got.filter((p) => p.timedOut).length,
      polls: got.reduce((s, p) => s + p.polls, 0),
      rate,
    };
    reps.push(r);
    env.say(
      `  rep ${rep + 1}: p50 ${r.p50.toFixed(0)} ms, p95 ${r.p95.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms ` +
        `(append ack p50 ${r.ackP50.toFixed(0)} ms, ${r.timeouts} timeouts, ${Math.round(rate).toLocaleString('en')} events/s produced)`,
    );
  }
  const pumped = [];
  for (const pump of pumps) {
    await pump.stop();
    pumped.push(await pump.next('result', 30_000));
  }
  const achieved = Math.min(...reps.map((r) => r.rate));
  await speed.stop(30_000);
  const speedResult = await speed.next('result', 5000).catch(() => null);

  const ref = { name: `flush interval (${FLUSH_MS} ms)`, values: reps.map(() => FLUSH_MS), meaning: 'freshness / flush interval' };
  const p99 = figure(`Freshness p99 at ${sizes.freshRate.toLocaleString('en')} events/s`, 'ms', 'lower', reps.map((r) => r.p99), ref);
  const rateOk = achieved >= 0.95 * sizes.freshRate;
  p99.target = {
    text: 'freshness p99 ≤ 1 s at 20k events/s',
    met: sizes.freshRate >= 20_000 && rateOk ? p99.value.median <= 1000 : null,
    why:
      `median p99 ${p99.value.median.toFixed(0)} ms, at least ${Math.round(achieved).toLocaleString('en')} events/s produced in every repetition` +
      (sizes.freshRate < 20_000 ? ` (rate below the target's 20k: not decided)` : rateOk ? '' : ' (the pump fell short of the rate: not decided)'),
  };
  return {
    id: 'freshness',
    title: 'Freshness (produce → visible through the API)',
    figures: [
      figure(`Freshness p50 at ${sizes.freshRate.toLocaleString('en')} events/s`, 'ms', 'lower', reps.map((r) => r.p50), ref),
      figure(`Freshness p95 at ${sizes.freshRate.toLocaleString('en')} events/s`, 'ms', 'lower', reps.map((r) => r.p95), ref),
      p99,
    ],
    details: {
      targetRate: sizes.freshRate,
      achievedRate: achieved,
      probesPerRep: sizes.freshProbes,
      probeEveryMs: sizes.probeEveryMs,
      pollMs: POLL_MS,
      flushIntervalMs: FLUSH_MS,
      reps,
      probes: all.map((got) => got.map((p) => Math.round(p.visibleMs))),
      pump: pumped,
      speed: speedResult,
    },
    notes: [
      `Production: ${pumpCount} TrafficPump worker(s) for ${sizes.freshRate.toLocaleString('en')} events/s in all, 10 appends/s each (reached, from the topic's end offsets: ${reps.map((r) => Math.round(r.rate).toLocaleString('en')).join(', ')} events/s); ${sizes.freshProbes} probes per repetition, one every ${sizes.probeEveryMs} ms.`,
      `With a ${FLUSH_MS} ms flush interval an event waits up to one interval before its checkpoint, so p99 cannot be much below the interval plus the write.`,
    ],
  };
}
