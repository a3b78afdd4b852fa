/**
 * 1. Speed-layer ingest: events/s from a pre-filled topic into the speed views, against kcat
 * reading the same topic to /dev/null.
 *
 * Each repetition starts a speed-layer worker with a fresh consumer group and a fresh ClickHouse
 * database. The worker first runs a speed layer through a small warm-up topic (JIT), then starts
 * the measured one and times from `start()` resolved (group joined, partitions assigned) until
 * its checkpoints in the store cover every record of the topic (polled every 50 ms; the speed
 * layer checkpoints every flush interval, 500 ms by default). kcat and speed repetitions alternate.
 */
import { MINUTE_MS, spreadEvents } from './events.ts';
import { figure, type BenchResult } from './figures.ts';
import { filledTopic, kcatRead, type BenchEnv, type Resources } from './harness.ts';
import type { Sizes } from './sizes.ts';

interface SpeedRun {
  joinMs: number;
  ingestMs: number;
  eventsPerSec: number;
  outcomes: Record<string, number>;
  maxRss: number;
  stateBytes: number;
}

/** Runs one speed worker over `topic` until caught up; its databases are dropped afterwards. */
export async function speedRun(
  env: BenchEnv,
  res: Resources,
  topic: string,
  events: number,
  warm: { topic: string; events: number } | null,
): Promise<SpeedRun & Record<string, unknown>> {
  const database = res.database();
  const warmDatabase = res.database();
  try {
    const worker = await res.worker('speed', {
      BENCH_BROKERS: env.brokers.join(','),
      BENCH_CLICKHOUSE_URL: env.clickhouseUrl,
      BENCH_TOPIC: topic,
      BENCH_DATABASE: database,
      BENCH_GROUP: res.group(),
      BENCH_EXPECT: events,
      BENCH_MAX_MS: 600_000,
      ...(warm === null
        ? {}
        : { BENCH_WARM_TOPIC: warm.topic, BENCH_WARM_DATABASE: warmDatabase, BENCH_WARM_GROUP: res.group(), BENCH_WARM_EXPECT: warm.events }),
    }, ['--expose-gc']);
    const result = await worker.next('result', 900_000);
    await worker.waitExit(60_000);
    const { type: _type, ...rest } = result;
    return rest as unknown as SpeedRun & Record<string, unknown>;
  } finally {
    await res.dropDatabase(database);
    await res.dropDatabase(warmDatabase);
  }
}

export async function benchSpeedIngest(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const events = sizes.speedEvents;
  const now = Date.now();
  // Event times over the last few minutes, in order: all counted (none late, none in the future).
  const topic = await filledTopic(env, res, events, spreadEvents(events, now - 10 * MINUTE_MS, now - MINUTE_MS, { seed: 1 }));
  const warmTopic = await filledTopic(env, res, sizes.warmEvents, spreadEvents(sizes.warmEvents, now - 10 * MINUTE_MS, now - MINUTE_MS, { seed: 2 }));

  env.say('  kcat warm-up read');
  await kcatRead(env.brokers, topic);
  const kcatMs: number[] = [];
  const runs: (SpeedRun & Record<string, unknown>)[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    kcatMs.push(await kcatRead(env.brokers, topic));
    const run = await speedRun(env, res, topic, events, { topic: warmTopic, events: sizes.warmEvents });
    runs.push(run);
    env.say(`  rep ${rep + 1}: kcat ${(kcatMs[rep]! / 1000).toFixed(2)} s, speed layer ${(run.ingestMs / 1000).toFixed(2)} s (${Math.round(run.eventsPerSec)} events/s)`);
  }
  const kcatRate = kcatMs.map((ms) => events / (ms / 1000));
  const speedRate = runs.map((r) => r.eventsPerSec);
  const f = figure('Speed-layer ingest', 'events/s', 'higher', speedRate, { name: 'kcat -C to /dev/null', values: kcatRate, meaning: 'speed layer / kcat' });
  const met = f.value.median >= 100_000;
  f.target = {
    text: 'speed ingest ≥ 100k events/s',
    met,
    why: `median ${Math.round(f.value.median).toLocaleString('en')} events/s`,
  };
  return {
    id: 'speed-ingest',
    title: 'Speed-layer ingest',
    figures: [f],
    details: { events, partitions: 4, kcatMs, runs },
    notes: [
      `${events.toLocaleString('en')} events (1,000 Zipf pages, 50,000 visitors) in a 4-partition topic; speed layer with the default options (flush every 1 s, 100k exact keys per partition).`,
      'Timed from start() resolved (group joined) until the checkpoints cover the whole topic; the flush interval (500 ms by default) quantizes the end by up to one interval.',
    ],
  };
}
