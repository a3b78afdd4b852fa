/**
 * 4. Serving API: requests/s and latency of merged time-series queries (batch days before the
 * boundary + speed minutes after it) against the real app of `npm start` (`createPlatformApp`), compared with an
 * Express hello-world started in the same run and loaded with the same autocannon settings.
 *
 * Data: one event per (page, hour) for pages × days before the cutoff (start of the current
 * UTC hour), recomputed by `runBatch` (so the batch views hold pages × days × 24 rows and the
 * boundary is published); a live speed layer (its group starts at the end of the topic) fed by
 * a TrafficPump, so buckets after the boundary come from the speed views.
 * Query: `GET /api/v1/pages/<page>/views?interval=day&from=<cutoff − days>`, pages in turn.
 * Workers: serving app, hello-world, speed layer and pump each in a process of their own;
 * autocannon runs in this process.
 */
import { KafkaEventLog } from '../shared/adapters/event-log/index.ts';
import { silentLogger } from '../shared/runtime/logger.ts';
import { ClickHouseViewStore } from '../shared/adapters/view-store/index.ts';
import { runBatch } from '../batch-layer/index.ts';
import { DAY_MS, HOUR_MS, gridEvents, gridPage } from './events.ts';
import { figure, type BenchResult, type Figure } from './figures.ts';
import { clickhouseRoundTrips, commitGroupAtEnd, filledTopic, sleep, type BenchEnv, type Resources, type Worker } from './harness.ts';
import { percentile } from './stats.ts';
import { checkClean, load, type LoadResult } from './load.ts';
import type { Sizes } from './sizes.ts';

export function servingPaths(pages: number, days: number, cutoff: number): string[] {
  const from = cutoff - days * DAY_MS;
  return Array.from({ length: pages }, (_, p) => `/api/v1/pages/${encodeURIComponent(gridPage(p))}/views?interval=day&from=${from}`);
}

/** Checks that the query really merges exact batch days with provisional speed buckets. */
export async function checkMergedAnswer(port: number, path: string, cutoff: number): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  const body = (await res.json()) as { exactThrough?: string | null; series?: { views: number; exact: boolean }[] };
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(body)}`);
  const series = body.series ?? [];
  const exact = series.filter((p) => p.exact).length;
  if (body.exactThrough !== new Date(cutoff).toISOString() || exact === 0 || exact === series.length) {
    throw new Error(`${path} is not a merged answer: exactThrough ${body.exactThrough}, ${exact} of ${series.length} buckets exact`);
  }
  return { buckets: series.length, exactBuckets: exact, views: series.reduce((s, p) => s + p.views, 0) };
}

/**
 * Loads the API and the hello-world alternately (warm-up, then reps), at fixed concurrency, then
 * the API at a fixed offered rate. Returns the figures and the raw runs.
 */
export async function apiVersusHello(
  env: BenchEnv,
  sizes: Sizes,
  apiPort: number,
  helloPort: number,
  paths: string[],
  label: string,
  withTargets = true,
  /** A serving worker that reports its store trace on SIGUSR2 (per API run: calls and time per store method). */
  traced: Worker | null = null,
): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const storeTraces: Record<string, unknown>[] = [];
  const trace = async (): Promise<Record<string, { calls: number; avgMs: number }> | null> => {
    if (traced === null) return null;
    traced.signal('SIGUSR2');
    return (await traced.next('trace', 10_000))['store'] as Record<string, { calls: number; avgMs: number }>;
  };
  const base = { connections: sizes.connections, durationS: sizes.loadS, maxRequests: 500_000 };
  const api = (durationS: number): Promise<LoadResult> => load({ ...base, durationS, port: apiPort, requests: paths.map((path) => ({ path })) });
  const hello = (durationS: number): Promise<LoadResult> => load({ ...base, durationS, port: helloPort, requests: [{ path: '/' }] });
  env.say(`  warm-up: ${sizes.loadWarmupS} s each`);
  checkClean('hello warm-up', await hello(sizes.loadWarmupS));
  checkClean('API warm-up', await api(sizes.loadWarmupS));
  const apiRuns: LoadResult[] = [];
  const helloRuns: LoadResult[] = [];
  const rateRuns: LoadResult[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    const h = await hello(sizes.loadS);
    checkClean('hello', h);
    helloRuns.push(h);
    await trace();
    const a = await api(sizes.loadS);
    checkClean('API', a);
    apiRuns.push(a);
    const t = await trace();
    if (t !== null) {
      const perRequest = Object.fromEntries(Object.entries(t).map(([m, v]) => [m, { perRequest: Math.round((v.calls / Math.max(1, a.ok)) * 100) / 100, avgMs: v.avgMs }]));
      storeTraces.push(perRequest);
      env.say(`    store calls per API request: ${Object.entries(perRequest).map(([m, v]) => `${m} ${v.perRequest} × ${v.avgMs} ms`).join(', ')}`);
    }
    const r = await load({
      ...base,
      connections: Math.max(sizes.connections, 20),
      port: apiPort,
      requests: paths.map((path) => ({ path })),
      overallRate: sizes.fixedRate,
      maxRequests: sizes.fixedRate * sizes.loadS * 2,
    });
    checkClean(`API at ${sizes.fixedRate} req/s`, r);
    rateRuns.push(r);
    env.say(
      `  rep ${rep + 1}: hello ${Math.round(h.requestsPerSec)} req/s (p99 ${h.p99} ms); API ${Math.round(a.requestsPerSec)} req/s ` +
        `(p50 ${a.p50} ms, p99 ${a.p99} ms); API at ${sizes.fixedRate} req/s: ${Math.round(r.requestsPerSec)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`,
    );
  }
  const helloRef = (pick: (r: LoadResult) => number, meaning: string): { name: string; values: number[]; meaning: string } => ({
    name: `Express hello-world, ${sizes.connections} connections`,
    values: helloRuns.map(pick),
    meaning,
  });
  const throughput = figure(`${label} throughput, ${sizes.connections} connections`, 'req/s', 'higher', apiRuns.map((r) => r.requestsPerSec), helloRef((r) => r.requestsPerSec, 'API / hello-world'));
  throughput.target = {
    text: 'serving throughput ≥ 0.5× the Express hello-world',
    met: (throughput.ratio ?? 0) >= 0.5,
    why: `${(throughput.ratio ?? Number.NaN).toFixed(3)}× (${Math.round(throughput.value.median)} vs ${Math.round(throughput.reference?.value.median ?? Number.NaN)} req/s)`,
  };
  const atRate = figure(`${label} p99 at ${sizes.fixedRate} req/s offered`, 'ms', 'lower', rateRuns.map((r) => r.p99), helloRef((r) => r.p99, 'API at the fixed rate / hello-world at full concurrency (p99)'));
  const achieved = rateRuns.map((r) => r.requestsPerSec);
  const keptUp = Math.min(...achieved) >= 0.95 * sizes.fixedRate;
  atRate.target = {
    text: 'serving p99 ≤ 20 ms at 500 req/s',
    met: sizes.fixedRate === 500 ? keptUp && atRate.value.median <= 20 : null,
    why: `median p99 ${atRate.value.median} ms; answered ${achieved.map((a) => Math.round(a)).join(', ')} req/s of ${sizes.fixedRate} offered${keptUp ? '' : ' (did not keep up)'}`,
  };
  if (!withTargets) {
    throughput.target = null;
    atRate.target = null;
  }
  return {
    figures: [
      throughput,
      figure(`${label} p50, ${sizes.connections} connections`, 'ms', 'lower', apiRuns.map((r) => r.p50), helloRef((r) => r.p50, 'API / hello-world (p50)')),
      figure(`${label} p99, ${sizes.connections} connections`, 'ms', 'lower', apiRuns.map((r) => r.p99), helloRef((r) => r.p99, 'API / hello-world (p99)')),
      atRate,
      figure(`${label} p50 at ${sizes.fixedRate} req/s offered`, 'ms', 'lower', rateRuns.map((r) => r.p50), helloRef((r) => r.p50, 'API at the fixed rate / hello-world at full concurrency (p50)')),
    ],
    details: { apiRuns, helloRuns, rateRuns, storeTraces },
  };
}

export async function benchServing(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const { servingPages: pages, servingDays: days } = sizes;
  const cutoff = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const events = pages * days * 24;
  const topic = await filledTopic(env, res, events, gridEvents(pages, days * 24, cutoff));
  const database = res.database();
  const common = { BENCH_BROKERS: env.brokers.join(','), BENCH_CLICKHOUSE_URL: env.clickhouseUrl, BENCH_TOPIC: topic, BENCH_DATABASE: database };

  // Setup (not a figure): the batch views of the whole grid, published.
  const log = new KafkaEventLog({ brokers: env.brokers, topic });
  const store = new ClickHouseViewStore({ url: env.clickhouseUrl, database });
  let batchMs: number;
  let batchRows: number;
  try {
    await store.migrate();
    const started = Date.now();
    const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
    batchMs = Date.now() - started;
    batchRows = Number((await fetch(env.clickhouseUrl, { method: 'POST', body: `SELECT count() FROM \`${database}\`.batch_page_hour` }).then((r) => r.text())).trim());
    if (run.rowsCounted !== events) throw new Error(`batch counted ${run.rowsCounted} of ${events} events`);
  } finally {
    await Promise.all([log.close(), store.close()]);
  }
  env.say(`  batch views: ${batchRows.toLocaleString('en')} page-hour rows (${pages} pages × ${days} days), runBatch ${(batchMs / 1000).toFixed(1)} s`);

  // The live speed layer begins at the end of the topic: the backlog is the batch layer's.
  const group = res.group();
  await commitGroupAtEnd(env.brokers, topic, group);
  const speed = await res.worker('speed-live', { ...common, BENCH_GROUP: group });
  await speed.next('ready', 60_000);
  const loadBudgetMs = (sizes.loadWarmupS * 2 + env.reps * sizes.loadS * 3) * 1000 + 120_000;
  const pump = await res.worker('pump', { ...common, BENCH_RATE: sizes.liveRate, BENCH_DURATION_MS: loadBudgetMs, BENCH_PAGES: pages });
  await pump.next('ready', 60_000);
  const serving = await res.worker('serving', common);
  const apiPort = Number((await serving.next('ready', 60_000))['port']);
  const hello = await res.worker('hello', {});
  const helloPort = Number((await hello.next('ready', 60_000))['port']);
  // Let the speed layer checkpoint live minutes after the boundary.
  await sleep(2500);
  const paths = servingPaths(pages, days, cutoff);
  const sample = await checkMergedAnswer(apiPort, paths[1 % paths.length]!, cutoff);
  // The floor of a store read, with the live speed layer running but no API load.
  const roundTrips = await clickhouseRoundTrips(env.clickhouseUrl, 100);
  const clickhouseSelect1 = { p50: percentile(roundTrips, 50), p99: percentile(roundTrips, 99) };
  env.say(`  ClickHouse round trip (SELECT 1 over HTTP, no API load): p50 ${clickhouseSelect1.p50.toFixed(1)} ms, p99 ${clickhouseSelect1.p99.toFixed(1)} ms`);

  const { figures, details } = await apiVersusHello(env, sizes, apiPort, helloPort, paths, 'Serving API', true, serving);
  await pump.stop();
  await speed.stop(30_000);
  return {
    id: 'serving',
    title: 'Serving API (merged time series)',
    figures,
    details: { pages, days, batchRows, batchMs, liveRate: sizes.liveRate, sample, clickhouseSelect1, ...details },
    notes: [
      `Batch data: ${pages.toLocaleString('en')} pages × ${days} days (${batchRows.toLocaleString('en')} page-hour rows) published by runBatch; a live speed layer with ${sizes.liveRate.toLocaleString('en')} events/s of traffic after the boundary.`,
      `Query: one page per request (pages in turn), interval=day over the ${days} days before the boundary up to now: ${String(sample['buckets'])} buckets, ${String(sample['exactBuckets'])} exact.`,
      `autocannon in the harness process, ${sizes.connections} connections for ${sizes.loadS} s per repetition; the fixed-rate run offers ${sizes.fixedRate} req/s over ${Math.max(sizes.connections, 20)} connections. autocannon's latency histogram has 1 ms resolution.`,
      'The serving worker times every view-store call it makes (storeTraces in the results: calls per API request and mean time per call); the app\'s own batch read cache sits in front of it, so cached batch reads do not appear.',
    ],
  };
}
