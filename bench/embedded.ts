/**
 * 7. Embedded mode (--embedded): speed-layer ingest and query latency on EmbeddedEventLog +
 * DuckDbViewStore.
 *
 * The embedded log and the DuckDB file belong to one process, so one worker does all of it in a
 * temporary folder: fill the log, read it back with readRange (the reference: the log's own read
 * path, no decoding and no state), run the speed layer over it into a fresh DuckDB file per
 * repetition (after a warm-up repetition), then time one batch run over as many events spread
 * over 30 days (issue #19's embedded row, against readRange of them), publish batch views of pages × days with
 * runBatch, start a live speed layer with the built-in generator and serve the API. This process
 * loads the API and an Express hello-world with autocannon, as in the Kafka serving benchmark.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { figure, type BenchResult } from './figures.ts';
import type { BenchEnv, Resources } from './harness.ts';
import { apiVersusHello, checkMergedAnswer, constantPathsLike, servingPaths } from './serving.ts';
import type { Sizes } from './sizes.ts';

export async function benchEmbedded(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pv-bench-'));
  res.onCleanup(() => rm(dir, { recursive: true, force: true }));
  const events = sizes.embeddedEvents;
  const worker = await res.worker('embedded', {
    BENCH_DIR: dir,
    BENCH_EVENTS: events,
    BENCH_REPS: env.reps,
    BENCH_PAGES: sizes.embeddedPages,
    BENCH_DAYS: sizes.embeddedDays,
    BENCH_LIVE_RATE: sizes.liveRate,
    BENCH_MAX_MS: 900_000,
  });
  const filled = await worker.next('filled', 900_000);
  env.say(`  filled the embedded log with ${events.toLocaleString('en')} events in ${(Number(filled['fillMs']) / 1000).toFixed(1)} s`);
  const ingest = await worker.next('ingest', 1_800_000);
  const readMs = ingest['readMs'] as number[];
  const runs = ingest['ingest'] as { ingestMs: number; eventsPerSec: number }[];
  runs.forEach((r, i) =>
    env.say(`  rep ${i + 1}: readRange ${(readMs[i]! / 1000).toFixed(2)} s, speed layer ${(r.ingestMs / 1000).toFixed(2)} s (${Math.round(r.eventsPerSec)} events/s)`),
  );
  const batch = await worker.next('batch', 1_800_000);
  const batchMs = Number(batch['batchMs']);
  const batchReadMs = Number(batch['batchReadMs']);
  const batchEvents = Number(batch['batchEvents']);
  env.say(
    `  batch run over ${batchEvents.toLocaleString('en')} events (30 days before the cutoff): runBatch ${(batchMs / 1000).toFixed(1)} s, ` +
      `readRange of the same records ${(batchReadMs / 1000).toFixed(2)} s`,
  );
  const ready = await worker.next('ready', 1_800_000);
  const port = Number(ready['port']);
  const cutoff = Number(ready['cutoff']);
  const hello = await res.worker('hello', {});
  const helloPort = Number((await hello.next('ready', 60_000))['port']);
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const paths = servingPaths(sizes.embeddedPages, sizes.embeddedDays, cutoff);
  const sample = await checkMergedAnswer(port, paths[1 % paths.length]!, cutoff);
  const constantPath = String(ready['constantPath']);
  // The layer issues' targets are stated for Kafka + ClickHouse: none is judged here.
  const serving = await apiVersusHello(env, sizes, port, helloPort, paths, 'Embedded API', { targets: 'all', constantPaths: constantPathsLike(paths, constantPath) });
  await worker.stop(60_000);
  const final = await worker.next('result', 5000).catch(() => null);

  const ingestFigure = figure('Embedded speed-layer ingest', 'events/s', 'higher', runs.map((r) => r.eventsPerSec), {
    name: 'EmbeddedEventLog.readRange of the same records',
    values: readMs.map((ms) => events / (ms / 1000)),
    meaning: 'speed layer / readRange',
  });
  // Issue #19's embedded row: one batch run (raw copy and views, exact) against reading its records.
  const batchFigure = figure('Embedded batch run (runBatch: raw copy and views into DuckDB)', 'events/s', 'higher', [batchEvents / (batchMs / 1000)], {
    name: 'EmbeddedEventLog.readRange of the same records',
    values: [batchEvents / (batchReadMs / 1000)],
    meaning: 'runBatch / readRange',
  });
  return {
    id: 'embedded',
    title: 'Embedded mode (EmbeddedEventLog + DuckDB)',
    figures: [ingestFigure, batchFigure, ...serving.figures],
    details: { events, readMs, runs, batchMs, batchReadMs, batchEvents, batchMaxRss: batch['maxRss'], sample, constantPath, worker: final, ...serving.details },
    notes: [
      `${events.toLocaleString('en')} events (1,000 Zipf pages) appended in batches of 5,000 to a 4-partition embedded log; one speed layer per repetition into a fresh DuckDB file, after a warm-up repetition.`,
      `Batch: one runBatch over ${events.toLocaleString('en')} events spread over the 30 days before the cutoff (seed 3, v1 events) into a fresh DuckDB file, after the speed layer's repetitions; readRange of the same records right after it.`,
      `Serving: ${sizes.embeddedPages} pages × ${sizes.embeddedDays} days of batch views in DuckDB, a live speed layer with ${sizes.liveRate} events/s from the built-in generator, all in the worker process with the API.`,
      `Middleware share: \`${constantPath}\` answers a constant through the same app and the read API's middleware, with the API's query strings, loaded like the API in runs alternating with it and the hello-world.`,
    ],
  };
}
