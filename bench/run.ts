/**
 * `npm run bench [-- --quick] [-- --embedded] [...]`: the platform's benchmarks. Each figure is
 * a ratio against a reference measured in the same run (the machine is small, shared and noisy).
 * Prints a table, writes bench/results/<date>.json and (full runs) the generated BENCHMARKS.md.
 * See BENCHMARKS.md for the method.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { benchBatch } from './batch.ts';
import { benchCollector } from './collector.ts';
import { benchDashboard } from './dashboard.ts';
import { benchEmbedded } from './embedded.ts';
import type { BenchResult } from './figures.ts';
import { benchFreshness } from './freshness.ts';
import { benchIdle } from './idle.ts';
import { ROOT, Resources, machineFacts, type BenchEnv, type MachineFacts } from './harness.ts';
import { benchMemory, benchMemoryDimensions, benchMemorySessions } from './memory.ts';
import { benchPlausibleEvents } from './plausible-events.ts';
import { renderBenchmarksMd, renderTable } from './report.ts';
import { benchServing } from './serving.ts';
import { benchServingMemory } from './serving-memory.ts';
import { benchServingStats } from './serving-stats.ts';
import { FULL, QUICK, type Sizes } from './sizes.ts';
import { benchSpeedIngest, benchSpeedIngestDimensions, benchSpeedIngestSessions } from './speed-ingest.ts';

const USAGE = `usage: npm run bench [-- options]
  --quick             smoke run: small sizes, 1 repetition (under 3 minutes)
  --embedded          the embedded backends (EmbeddedEventLog + DuckDB) instead of Kafka + ClickHouse
  --reps N            repetitions of each figure after its warm-up (default 3; --quick: 1)
  --only a,b          only these benchmarks: ${'speed-ingest, freshness, batch, serving, serving-stats, serving-memory, collector, plausible-events, memory, idle,'}
                      dashboard (issue #18; needs chromium: bash scripts/browser.sh);
                      on request only: speed-ingest-dimensions, memory-dimensions (issue #16),
                      speed-ingest-sessions, memory-sessions (issue #17)
  --visit-fields      the batch benchmark's events carry the traffic generator's visit fields (schema v2)
  --batch-events N    events of the batch benchmark (default 10,000,000; --quick 200,000)
  --speed-events N    events of the speed-ingest benchmark
  --batch-pass N      raw rows per deduplication pass of the batch build (default: the store's, 1,000,000)
  --batch-copy-concurrency N  partitions the batch's raw copy copies at once (default: runBatch's, 4)
  --rate N            production rate of the freshness benchmark (events/s; default 20,000)
  --profile           write CPU profiles of the workers to bench/results/profiles/ (speed-ingest: also a profile
                      of the measured ingest, its top self-time functions in the results and BENCHMARKS.md)
  --report FILE       only regenerate BENCHMARKS.md from a results file
  --no-report         do not regenerate BENCHMARKS.md (quick and --only runs never do)
Environment: KAFKA_BROKERS (default 127.0.0.1:9092), CLICKHOUSE_URL (default http://127.0.0.1:8123).`;

export interface RunResults {
  schema: 1;
  date: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  mode: 'kafka-clickhouse' | 'embedded';
  quick: boolean;
  reps: number;
  command: string;
  sizes: Sizes;
  machine: MachineFacts & { loadAverageAtEnd: number[] };
  benches: BenchResult[];
}

const BENCHES = {
  'speed-ingest': benchSpeedIngest,
  freshness: benchFreshness,
  batch: benchBatch,
  serving: benchServing,
  'serving-stats': benchServingStats,
  'serving-memory': benchServingMemory,
  collector: benchCollector,
  'plausible-events': benchPlausibleEvents,
  memory: benchMemory,
  idle: benchIdle,
  dashboard: benchDashboard,
  // Issue #16's lines (dimension views): only with --only, not part of a full run.
  'speed-ingest-dimensions': benchSpeedIngestDimensions,
  'memory-dimensions': benchMemoryDimensions,
  // Issue #17's lines (sessions): likewise only with --only.
  'speed-ingest-sessions': benchSpeedIngestSessions,
  'memory-sessions': benchMemorySessions,
} as const;
const ONLY_ON_REQUEST = new Set<string>(['speed-ingest-dimensions', 'memory-dimensions', 'speed-ingest-sessions', 'memory-sessions']);
type BenchId = keyof typeof BENCHES;

function localOnly(name: string, value: string): void {
  for (const part of value.split(',')) {
    const host = new URL(part.includes('://') ? part : `tcp://${part}`).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
      throw new Error(`${name}=${value}: the benchmarks send load to 127.0.0.1 only`);
    }
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean', default: false },
      embedded: { type: 'boolean', default: false },
      reps: { type: 'string' },
      only: { type: 'string' },
      'batch-events': { type: 'string' },
      'batch-pass': { type: 'string' },
      'batch-copy-concurrency': { type: 'string' },
      'speed-events': { type: 'string' },
      rate: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'visit-fields': { type: 'boolean', default: false },
      report: { type: 'string' },
      'no-report': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.report !== undefined) {
    const results = JSON.parse(await readFile(values.report, 'utf8')) as RunResults | RunResults[];
    await writeFile(path.join(ROOT, 'BENCHMARKS.md'), renderBenchmarksMd(Array.isArray(results) ? results : [results]));
    console.log(`BENCHMARKS.md regenerated from ${values.report}`);
    return 0;
  }
  const positive = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1, got ${raw}`);
    return n;
  };
  const quick = values.quick;
  const sizes: Sizes = { ...(quick ? QUICK : FULL) };
  sizes.batchEvents = positive('batch-events', values['batch-events']) ?? sizes.batchEvents;
  sizes.speedEvents = positive('speed-events', values['speed-events']) ?? sizes.speedEvents;
  const batchPass = positive('batch-pass', values['batch-pass']);
  if (batchPass !== undefined) sizes.batchEventsPerPass = batchPass;
  const copyConcurrency = positive('batch-copy-concurrency', values['batch-copy-concurrency']);
  if (copyConcurrency !== undefined) sizes.batchCopyConcurrency = copyConcurrency;
  sizes.freshRate = positive('rate', values.rate) ?? sizes.freshRate;
  const reps = positive('reps', values.reps) ?? (quick ? 1 : 3);
  const brokers = (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',').map((b) => b.trim());
  const clickhouseUrl = process.env['CLICKHOUSE_URL'] || 'http://127.0.0.1:8123';
  localOnly('KAFKA_BROKERS', brokers.join(','));
  localOnly('CLICKHOUSE_URL', clickhouseUrl);

  const date = new Date().toISOString().slice(0, 10);
  const resultsDir = path.join(ROOT, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  const profileDir = path.join(resultsDir, 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
  if (values.profile) await mkdir(profileDir, { recursive: true });
  const env: BenchEnv = {
    brokers,
    clickhouseUrl,
    quick,
    reps,
    profileDir: values.profile ? profileDir : null,
    visitFields: values['visit-fields'],
    say: (m) => console.log(m),
  };

  const mode = values.embedded ? 'embedded' : 'kafka-clickhouse';
  let selected: string[] = values.embedded ? ['embedded'] : Object.keys(BENCHES).filter((id) => !ONLY_ON_REQUEST.has(id));
  if (values.only !== undefined) {
    const wanted = values.only.split(',').map((s) => s.trim());
    const known = values.embedded ? ['embedded'] : Object.keys(BENCHES);
    const unknown = wanted.filter((w) => !known.includes(w));
    if (unknown.length > 0) throw new Error(`--only: unknown benchmark ${unknown.join(', ')} (known: ${known.join(', ')})`);
    selected = wanted;
  }

  const started = performance.now();
  const startedAt = new Date().toISOString();
  const machine = await machineFacts(env, !values.embedded);
  console.log(
    `pageview-lambda benchmarks (${mode}${quick ? ', quick' : ''}, ${reps} rep${reps === 1 ? '' : 's'}) on ${machine.cores} cores, ` +
      `${machine.memoryGiB} GiB, node ${machine.node}, Kafka ${machine.kafka}, ClickHouse ${machine.clickhouse}, kcat ${machine.kcat}; load ${machine.loadAverageAtStart.join(' ')}`,
  );

  // Everything a benchmark creates is removed when it ends, and on Ctrl-C.
  const live = new Set<Resources>();
  let interrupted = false;
  const onSignal = (signal: string): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n${signal}: cleaning up (again to exit at once)`);
    setTimeout(() => process.exit(130), 90_000).unref();
    void Promise.allSettled([...live].map((r) => r.cleanup())).then(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const benches: BenchResult[] = [];
  for (const id of selected) {
    const res = new Resources(env);
    live.add(res);
    const t0 = performance.now();
    console.log(`\n== ${id}`);
    try {
      const result = id === 'embedded' ? await benchEmbedded(env, res, sizes) : await BENCHES[id as BenchId](env, res, sizes);
      benches.push({ ...result, durationS: (performance.now() - t0) / 1000 });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      console.error(`  ${id} FAILED: ${message}`);
      benches.push({ id, title: id, figures: [], details: {}, notes: [], error: message, durationS: (performance.now() - t0) / 1000 });
    } finally {
      await res.cleanup();
      live.delete(res);
    }
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }

  const results: RunResults = {
    schema: 1,
    date,
    startedAt,
    finishedAt: new Date().toISOString(),
    durationS: (performance.now() - started) / 1000,
    mode,
    quick,
    reps,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    sizes,
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100) },
    benches,
  };

  console.log(`\n${renderTable([results])}`);
  // One file per date and kind of run (full, quick, partial with --only); a run replaces the
  // earlier run of the same mode in it.
  const partial = values.only !== undefined;
  const file = path.join(resultsDir, `${date}${quick ? '-quick' : ''}${partial ? '-partial' : ''}.json`);
  let runs: RunResults[] = [];
  try {
    const previous = JSON.parse(await readFile(file, 'utf8')) as RunResults | RunResults[];
    runs = (Array.isArray(previous) ? previous : [previous]).filter((r) => r.mode !== mode);
  } catch {
    // no earlier run today
  }
  runs.push(results);
  runs.sort((a, b) => a.mode.localeCompare(b.mode));
  await writeFile(file, `${JSON.stringify(runs, null, 2)}\n`);
  console.log(`results: ${path.relative(ROOT, file)}`);
  if (!quick && !partial && !values['no-report']) {
    await writeFile(path.join(ROOT, 'BENCHMARKS.md'), renderBenchmarksMd(runs));
    console.log('BENCHMARKS.md regenerated');
  }
  if (values.profile) console.log(`CPU profiles: ${path.relative(ROOT, profileDir)}/<role>-<n>/ (summarize: npx tsx bench/profile-summary.ts <file.cpuprofile>)`);
  return benches.some((b) => b.error !== undefined) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    console.error(USAGE);
    process.exit(2);
  },
);
