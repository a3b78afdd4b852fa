/**
 * 3. Batch recompute: wall time of `runBatch` (raw copy into ClickHouse, dedup, views, publish)
 * for N retained events, against the native pipe (`kcat | clickhouse-client INSERT … FORMAT
 * JSONEachRow`, the same N events into a ClickHouse table with no Node in the path: issue #19's
 * reference) and kcat reading them to /dev/null, both measured before each run.
 *
 * Each repetition runs the batch in a worker process of its own with a fresh database (the raw
 * copy is incremental, so a second run on the same database would copy nothing). The worker
 * first runs a batch over a small warm-up topic (JIT; it is also the small-N point of the
 * bounded-memory check), then the measured one. Memory: peak RSS of the worker, from
 * `process.resourceUsage().maxRSS` and sampled every 100 ms during each run.
 *
 * When the product's run cannot finish, the benchmark says why and measures what it can:
 *  - the raw copy stalls (no record for a while): the watchdog stops the run and says so;
 *  - the run fails (e.g. a store error): the error is reported instead of a figure.
 */
import { DAY_MS, HOUR_MS, spreadEvents } from './events.ts';
import { figure, MiB, type BenchResult, type Figure } from './figures.ts';
import { clickhouse, filledTopic, kcatRead, nativePipeInsert, type BenchEnv, type Resources, type WorkerMessage } from './harness.ts';
import type { Sizes } from './sizes.ts';
import { median } from './stats.ts';

interface BatchRun {
  wallMs: number;
  copyMs: number;
  buildMs: number;
  rowsRead: number;
  rowsCounted: number;
  peakRssSampled: number;
  warmPeakRss: number;
  maxRss: number;
  /** The slowest SQL statements of the run, with their time. */
  statements: unknown;
  /** Every SQL statement of the run grouped by shape: count and total time. */
  statementSummary: unknown;
}

type Attempt =
  | { kind: 'ok'; run: BatchRun }
  | { kind: 'stalled'; stalled: WorkerMessage }
  | { kind: 'failed'; error: string; copied: WorkerMessage | null; warmPeakRss: number };

export async function benchBatch(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const now = Date.now();
  const cutoff = Math.floor(now / HOUR_MS) * HOUR_MS;
  const stallMs = env.quick ? 20_000 : 30_000;
  // 30 days of traffic before the cutoff (all inside it), 1,000 Zipf pages.
  const fill = (events: number, seed: number): Promise<string> =>
    filledTopic(env, res, events, spreadEvents(events, cutoff - 30 * DAY_MS, cutoff - 1, { seed, visitFields: env.visitFields ?? false }));
  const warmTopic = await fill(sizes.batchWarmEvents, 4);

  /** One repetition in a fresh worker with fresh databases. */
  const attempt = async (topic: string, events: number): Promise<Attempt> => {
    const database = res.database();
    const warmDatabase = res.database();
    let warmPeakRss = Number.NaN;
    const worker = await res.worker('batch', {
      BENCH_BROKERS: env.brokers.join(','),
      BENCH_CLICKHOUSE_URL: env.clickhouseUrl,
      BENCH_TOPIC: topic,
      BENCH_DATABASE: database,
      BENCH_WARM_TOPIC: warmTopic,
      BENCH_WARM_DATABASE: warmDatabase,
      BENCH_CUTOFF: cutoff,
      BENCH_STALL_MS: stallMs,
      ...(sizes.batchEventsPerPass === undefined ? {} : { BENCH_EVENTS_PER_PASS: sizes.batchEventsPerPass }),
      ...(sizes.batchCopyConcurrency === undefined ? {} : { BENCH_COPY_CONCURRENCY: sizes.batchCopyConcurrency }),
    }, ['--expose-gc']);
    try {
      const warm = await worker.nextOf(['warm', 'stalled'], 900_000);
      if (warm.type === 'stalled') return { kind: 'stalled', stalled: warm };
      warmPeakRss = Number(warm['peakRss']);
      const result = await worker.nextOf(['result', 'stalled'], 2_400_000);
      await worker.waitExit(60_000);
      if (result.type === 'stalled') return { kind: 'stalled', stalled: result };
      const run: BatchRun = {
        wallMs: Number(result['wallMs']),
        copyMs: Number(result['copyMs']),
        buildMs: Number(result['buildMs']),
        rowsRead: Number(result['rowsRead']),
        rowsCounted: Number(result['rowsCounted']),
        peakRssSampled: Number(result['peakRssSampled']),
        warmPeakRss,
        maxRss: Number(result['maxRss']),
        statements: result['statements'],
        statementSummary: result['statementSummary'],
      };
      if (run.rowsRead !== events || run.rowsCounted !== events) {
        throw new Error(`batch read ${run.rowsRead} and counted ${run.rowsCounted} of ${events} events`);
      }
      return { kind: 'ok', run };
    } catch (err) {
      const measuredCopy = worker.received('copied').find((m) => m['phase'] === 'measured') ?? null;
      return { kind: 'failed', error: (err as Error).message.split('\n')[0] ?? String(err), copied: measuredCopy, warmPeakRss };
    } finally {
      await worker.stop(10_000);
      await res.dropDatabase(database);
      await res.dropDatabase(warmDatabase);
    }
  };

  const kcat: Record<string, number[]> = {};
  const readKcat = async (topic: string): Promise<number> => {
    const ms = await kcatRead(env.brokers, topic);
    (kcat[topic] ??= []).push(ms);
    return ms;
  };
  const native: Record<string, number[]> = {};
  /** The native pipe into a fresh database, its row count checked against the topic's. */
  const pipeNative = async (topic: string, events: number): Promise<number> => {
    const database = res.database();
    await clickhouse(env.clickhouseUrl, `CREATE DATABASE ${database}`);
    try {
      const ms = await nativePipeInsert(env.brokers, topic, env.clickhouseUrl, database);
      const rows = Number((await clickhouse(env.clickhouseUrl, `SELECT count() FROM ${database}.native_pipe`)).trim());
      if (rows !== events) throw new Error(`the native pipe inserted ${rows} of ${events} events`);
      (native[topic] ??= []).push(ms);
      return ms;
    } finally {
      await res.dropDatabase(database);
    }
  };
  const say = (label: string, rep: number, kcatMs: number, nativeMs: number, run: BatchRun): void =>
    env.say(
      `  ${label} rep ${rep + 1}: kcat ${(kcatMs / 1000).toFixed(2)} s, native pipe ${(nativeMs / 1000).toFixed(2)} s, runBatch ${(run.wallMs / 1000).toFixed(1)} s ` +
        `(copy ${(run.copyMs / 1000).toFixed(1)} s, views ${(run.buildMs / 1000).toFixed(1)} s), peak RSS ${(run.maxRss / MiB).toFixed(0)} MiB`,
    );
  /** Repetitions (kcat, the native pipe, then runBatch, alternating) until `reps` runs or a run that is not ok. */
  const measure = async (topic: string, events: number, label: string, reps: number): Promise<{ runs: BatchRun[]; stop: Attempt | null }> => {
    const runs: BatchRun[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const kcatMs = await readKcat(topic);
      const nativeMs = await pipeNative(topic, events);
      const got = await attempt(topic, events);
      if (got.kind !== 'ok') return { runs, stop: got };
      runs.push(got.run);
      say(label, rep, kcatMs, nativeMs, got.run);
    }
    return { runs, stop: null };
  };

  const events = sizes.batchEvents;
  const topic = await fill(events, 3);
  env.say('  kcat warm-up read');
  await kcatRead(env.brokers, topic);

  const details: Record<string, unknown> = { events, visitFields: env.visitFields ?? false, cutoff: new Date(cutoff).toISOString(), kcatMs: kcat, nativePipeMs: native, stallMs };
  const notes: string[] = [
    `${events.toLocaleString('en')} events over the 30 days before the cutoff (1,000 Zipf pages${env.visitFields === true ? ", the traffic generator's visit fields (--visit-fields)" : ', v1 events: no visit fields'}) in a 4-partition topic; runBatch with its defaults (raw-copy inserts of 50,000 rows, up to 4 partitions copied at once).`,
    'Bounded memory is read as: peak RSS at N events within 1.5× of the peak at the warm-up size.',
    ...(sizes.batchCopyConcurrency === undefined ? [] : [`Raw copy with ${sizes.batchCopyConcurrency} partitions at once (--batch-copy-concurrency; BatchRunOptions.copyConcurrency), not runBatch's default.`]),
    ...(sizes.batchEventsPerPass === undefined ? [] : [`Batch build with ${sizes.batchEventsPerPass.toLocaleString('en')} raw rows per deduplication pass (--batch-pass; ViewStore.batchEventsPerPass), not the store's default.`]),
  ];
  const figures: Figure[] = [];
  const full = events >= 10_000_000;
  const targetText = 'batch recompute ≤ 2× the native pipe (kcat | clickhouse-client INSERT … FORMAT JSONEachRow) for 10M events; peak RSS at 10M ≤ 1.5× at 400k';
  const before = 'about 23× the native pipe, 34× kcat; 500 vs 401 MiB';
  const nativeName = "kcat -C -f '%s\\n' | clickhouse-client INSERT … FORMAT JSONEachRow";
  const nativeRef = (t: string): { name: string; values: number[]; meaning: string } => ({
    name: nativeName,
    values: (native[t] ?? []).map((ms) => ms / 1000),
    meaning: 'runBatch / native pipe (time)',
  });
  const kcatRef = (t: string, meaning: string): { name: string; values: number[]; meaning: string } => ({
    name: 'kcat -C to /dev/null',
    values: (kcat[t] ?? []).map((ms) => ms / 1000),
    meaning,
  });
  const figuresFor = (label: string, t: string, n: number, list: BatchRun[]): Figure[] => [
    figure(`Batch recompute of ${n.toLocaleString('en')} events${label}`, 's', 'lower', list.map((r) => r.wallMs / 1000), nativeRef(t)),
    figure(`Batch recompute of ${n.toLocaleString('en')} events against kcat${label}`, 's', 'lower', list.map((r) => r.wallMs / 1000), kcatRef(t, 'runBatch / kcat (time)')),
    figure(`Native pipe, ${n.toLocaleString('en')} events`, 's', 'lower', (native[t] ?? []).map((ms) => ms / 1000), kcatRef(t, 'native pipe / kcat (time)')),
    figure(`Batch rows/s${label}`, 'rows/s', 'higher', list.map((r) => r.rowsRead / (r.wallMs / 1000)), {
      name: 'kcat -C to /dev/null',
      unit: 'events/s',
      values: (kcat[t] ?? []).map((ms) => n / (ms / 1000)),
      meaning: 'runBatch / kcat (rate)',
    }),
    figure(`Batch peak RSS${label}`, 'MiB', 'lower', list.map((r) => r.maxRss / MiB), {
      name: `peak RSS of the ${sizes.batchWarmEvents.toLocaleString('en')}-event warm-up run`,
      values: list.map((r) => r.warmPeakRss / MiB),
      meaning: `peak RSS at ${n.toLocaleString('en')} / at ${sizes.batchWarmEvents.toLocaleString('en')} events`,
    }),
  ];
  const verdict = (wall: Figure, peak: Figure): { met: boolean; why: string } => {
    const timeOk = (wall.ratio ?? Number.POSITIVE_INFINITY) <= 2;
    const memoryOk = (peak.ratio ?? Number.POSITIVE_INFINITY) <= 1.5;
    return {
      met: timeOk && memoryOk,
      why:
        `${(wall.ratio ?? Number.NaN).toFixed(1)}× the native pipe (${timeOk ? 'within' : 'over'} 2×); Node peak RSS ${peak.value.median.toFixed(0)} MiB, ` +
        `${(peak.ratio ?? Number.NaN).toFixed(2)}× the ${sizes.batchWarmEvents.toLocaleString('en')}-event run (${memoryOk ? 'bounded' : 'grows with N'})`,
    };
  };

  // 1. The product as it is.
  const product = await measure(topic, events, 'product', env.reps);
  details['runs'] = product.runs;
  if (product.stop === null) {
    const f = figuresFor('', topic, events, product.runs);
    const v = verdict(f[0]!, f[4]!);
    f[0]!.target = { text: targetText, before, met: full ? v.met : null, why: v.why + (full ? '' : `; measured at ${events.toLocaleString('en')} events, not 10M: not decided`) };
    figures.push(...f);
    return { id: 'batch', title: 'Batch recompute', figures, details: { ...details, copyShare: median(product.runs.map((r) => r.copyMs / r.wallMs)) }, notes };
  }

  // 2. Why the product's run did not finish.
  const reasons: string[] = [];
  if (product.stop.kind === 'stalled') {
    const s = product.stop.stalled;
    details['stalled'] = s;
    env.say(`  product runBatch STALLED in its ${String(s['phase'])} run: readRange delivered ${Number(s['delivered']).toLocaleString('en')} records, then none for ${(Number(s['idleMs']) / 1000).toFixed(0)} s`);
    reasons.push(
      `the raw copy stalls: KafkaEventLog.readRange delivered ${Number(s['delivered']).toLocaleString('en')} records (its ${String(s['phase'])} run), then none for ${(Number(s['idleMs']) / 1000).toFixed(0)} s`,
    );
    notes.push(`The product's runBatch stalled on Kafka: readRange delivered no record for ${stallMs / 1000} s (watchdog).`);
  } else if (product.stop.kind === 'failed') {
    details['productFailure'] = product.stop;
    reasons.push(`runBatch failed: ${product.stop.error}`);
  }
  figures.push(figure(`Batch recompute of ${events.toLocaleString('en')} events (product)`, 's', 'lower', [], nativeRef(topic)));

  figures[figures.findIndex((f) => f.name.endsWith('(product)'))]!.target = { text: targetText, met: false, why: `${reasons.join('; ')}.` };
  return { id: 'batch', title: 'Batch recompute', figures, details, notes };
}
