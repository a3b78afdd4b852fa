/**
 * 5. Collector: events/s from HTTP into Kafka (`POST /api/v1/events`, batches of 500 events,
 * answered 202 once Kafka has acknowledged them) against a bare kafkajs producer (default
 * settings, acks=all) sending the same batches with the same concurrency.
 *
 * The collector runs in the real serving app in a worker; autocannon in this process. The
 * reference producer runs in a worker of its own. Repetitions alternate between the two; each
 * run is bounded in time and in requests. Both are CPU-bound on a small machine, so the CPU
 * time each worker process spent per event (/proc, all threads) is reported beside the rates:
 * it is less disturbed by other load on the machine than events/s.
 */
import { readFile } from 'node:fs/promises';
import { collectorBatches } from './events.ts';
import { figure, type BenchResult } from './figures.ts';
import { createTopic, migratedDatabase, topicSize, type BenchEnv, type Resources } from './harness.ts';
import { checkClean, load, type LoadResult } from './load.ts';
import type { Sizes } from './sizes.ts';

const BODIES = 16;

/** CPU seconds (user + system, all threads) a process has used so far; NaN where /proc is missing. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  try {
    // Fields after the command name: state is field 3, utime 14, stime 15 (in clock ticks of 1/100 s).
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export async function benchCollector(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const topic = res.topic();
  await createTopic(env.brokers, topic);
  const refTopic = res.topic();
  await createTopic(env.brokers, refTopic);
  const now = Date.now();
  const batch = sizes.collectorBatch;
  const bodies = collectorBatches(BODIES, batch, now).map((events) => JSON.stringify(events));
  const common = { BENCH_BROKERS: env.brokers.join(','), BENCH_CLICKHOUSE_URL: env.clickhouseUrl };
  // The collector never touches the view store, but the serving app refreshes its views from it
  // (every 100 ms by default): an empty, migrated database, as a fresh deployment has. Without it
  // every refresh failed, and the errors (stack traces through source maps) cost the serving
  // process about 2.8 s of CPU in a run of a minute, against 1.2 s with the empty database.
  const database = await migratedDatabase(env, res);
  const serving = await res.worker('serving', { ...common, BENCH_TOPIC: topic, BENCH_DATABASE: database });
  const port = Number((await serving.next('ready', 60_000))['port']);
  const maxRequests = 200_000;
  const post = (durationS: number): Promise<LoadResult> =>
    load({
      port,
      connections: sizes.collectorConnections,
      durationS,
      maxRequests,
      requests: bodies.map((body) => ({ path: '/api/v1/events', method: 'POST', body, headers: { 'content-type': 'application/json' } })),
      timeoutS: 30,
    });
  const reference = async (): Promise<{ eventsPerSec: number; events: number; cpuUsPerEvent: number }> => {
    const worker = await res.worker('producer-ref', {
      ...common,
      BENCH_TOPIC: refTopic,
      BENCH_CONCURRENCY: sizes.collectorConnections,
      BENCH_BATCH: batch,
      BENCH_BODIES: BODIES,
      BENCH_NOW: now,
      BENCH_MAX_BATCHES: maxRequests,
      // A short warm-up window, then the measured one.
      BENCH_WINDOWS_MS: `${sizes.loadWarmupS * 1000},${sizes.loadS * 1000}`,
    });
    await worker.next('ready', 60_000);
    await worker.next('window', 120_000);
    const cpuBefore = await cpuSeconds(worker.pid);
    const measured = await worker.next('window', 120_000);
    const cpu = (await cpuSeconds(worker.pid)) - cpuBefore;
    await worker.waitExit(60_000);
    const events = Number(measured['events']);
    return { eventsPerSec: Number(measured['eventsPerSec']), events, cpuUsPerEvent: (cpu / events) * 1e6 };
  };

  env.say(`  warm-up: ${sizes.loadWarmupS} s`);
  let accepted = 0;
  const warm = await post(sizes.loadWarmupS);
  checkClean('collector warm-up', warm);
  accepted += warm.ok * batch;
  const http: LoadResult[] = [];
  const collectorCpu: number[] = [];
  const ref: { eventsPerSec: number; events: number; cpuUsPerEvent: number }[] = [];
  const ratios: number[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    const cpuBefore = await cpuSeconds(serving.pid);
    const h = await post(sizes.loadS);
    const cpu = (await cpuSeconds(serving.pid)) - cpuBefore;
    checkClean('collector', h);
    accepted += h.ok * batch;
    http.push(h);
    collectorCpu.push((cpu / (h.ok * batch)) * 1e6);
    const r = await reference();
    ref.push(r);
    ratios.push((h.requestsPerSec * batch) / r.eventsPerSec);
    env.say(
      `  rep ${rep + 1}: collector ${Math.round(h.requestsPerSec * batch)} events/s (${h.requestsPerSec.toFixed(1)} req/s, p99 ${h.p99} ms, ` +
        `${collectorCpu[rep]!.toFixed(1)} µs CPU/event); bare producer ${Math.round(r.eventsPerSec)} events/s (${r.cpuUsPerEvent.toFixed(1)} µs CPU/event); ` +
        `ratio ${ratios[rep]!.toFixed(2)}`,
    );
  }
  // autocannon closes its connections at the end of a run with requests in flight: the
  // collector may still append those (one batch per connection per run) without a 202 seen.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const inTopic = await topicSize(env.brokers, topic);
  const inFlight = (env.reps + 1) * sizes.collectorConnections * batch;
  if (inTopic < accepted || inTopic > accepted + inFlight) {
    throw new Error(`the collector answered 202 for ${accepted} events but the topic holds ${inTopic} (at most ${inFlight} more were in flight)`);
  }
  const ingest = figure('Collector ingest', 'events/s', 'higher', http.map((h) => h.requestsPerSec * batch), {
    name: 'bare kafkajs producer, same batches',
    values: ref.map((r) => r.eventsPerSec),
    meaning: 'collector / bare producer',
  });
  ingest.target = {
    text: 'collector ≥ 0.9× the bare kafkajs producer (issue #15)',
    before: '0.46–0.60×',
    met: env.quick ? null : (ingest.ratio ?? 0) >= 0.9,
    why: `${(ingest.ratio ?? Number.NaN).toFixed(3)}× (medians); per repetition ${ratios.map((r) => `${r.toFixed(2)}×`).join(', ')}`,
  };
  return {
    id: 'collector',
    title: 'Collector (HTTP → Kafka)',
    figures: [
      ingest,
      figure(`Collector p99 per ${batch}-event POST, ${sizes.collectorConnections} connections`, 'ms', 'lower', http.map((h) => h.p99)),
      figure('CPU per event, collector process (all threads)', 'µs', 'lower', collectorCpu, {
        name: 'bare producer process',
        values: ref.map((r) => r.cpuUsPerEvent),
        meaning: 'collector / bare producer',
      }),
    ],
    details: { batch, connections: sizes.collectorConnections, http, collectorCpuUsPerEvent: collectorCpu, reference: ref, ratios, acceptedEvents: accepted, topicEvents: inTopic },
    notes: [
      `POST /api/v1/events with ${batch} events per request (${BODIES} different bodies in turn), ${sizes.collectorConnections} connections, ${sizes.loadS} s per repetition; every answer must be 202 and the topic must hold every accepted event (and at most the requests in flight when a run ended besides).`,
      `Reference: kafkajs producer with default settings (not idempotent, several requests in flight), acks=all, ${sizes.collectorConnections} concurrent send loops of the same batches. The collector's KafkaEventLog uses an idempotent producer with one request in flight; appends that arrive while a request is in flight go out together in the next one (group commit, at most 256 KiB a request).`,
      'The serving app refreshes its views from an empty, migrated database (every 100 ms), as in a fresh deployment.',
      'CPU per event: user + system time of the worker process (all threads) over the measured window, from /proc. The collector process also parses, validates and encodes the HTTP requests; the bare producer only encodes for Kafka.',
    ],
  };
}
