/**
 * 4. Serving API: requests/s and latency of merged time-series queries (batch days before the
 * boundary + speed minutes after it) against the app of `npm start` (composed as `createPlatformApp`
 * composes it: bench/worker.ts), compared with an Express hello-world started in the same run and
 * loaded with the same autocannon settings.
 *
 * Data: one event per (page, hour) for pages × days before the cutoff (start of the current
 * UTC hour), recomputed by `runBatch` (so the batch views hold pages × days × 24 rows and the
 * boundary is published); a live speed layer (its group starts at the end of the topic) fed by
 * a TrafficPump, so buckets after the boundary come from the speed views.
 * Query: `GET /api/v1/pages/<page>/views?interval=day&from=<cutoff − days>`, pages in turn.
 * Middleware share (issue #14): a route of the same app that answers a constant through the read
 * API's middleware, loaded like the API.
 * Workers: serving app, hello-world, speed layer and pump each in a process of their own;
 * autocannon runs in this process.
 */
import { performance } from 'node:perf_hooks';
import { KafkaEventLog } from '../shared/adapters/event-log/index.ts';
import type { PageView } from '../shared/core/page-view.ts';
import { silentLogger } from '../shared/runtime/logger.ts';
import { ClickHouseViewStore } from '../shared/adapters/view-store/index.ts';
import { runBatch } from '../batch-layer/index.ts';
import { DAY_MS, HOUR_MS, gridEvents, gridPage } from './events.ts';
import { figure, type BenchResult, type Figure } from './figures.ts';
import { clickhouse, clickhouseRoundTrips, commitGroupAtEnd, filledTopic, sleep, type BenchEnv, type Resources, type Worker } from './harness.ts';
import { percentile } from './stats.ts';
import { checkClean, load, loadAtRate, type LoadResult } from './load.ts';
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

export interface VersusHelloOptions {
  /**
   * Which of the issue's targets to judge: both (throughput ≥ 0.5×, p99 ≤ 20 ms at 500 req/s),
   * the throughput alone, or none (figures only).
   * @default 'all'
   */
  targets?: 'all' | 'throughput' | 'none';
  /** What the targets' text names. @default 'serving' */
  subject?: string;
  /** A serving worker that reports its store trace on SIGUSR2 (per API run: calls and time per store method). @default null */
  traced?: Worker | null;
  /**
   * Paths of the route that answers a constant through the same app (issue #14: the middleware
   * stack's own share), loaded like the API in runs alternating with the hello-world's and the
   * API's. @default null (not measured)
   */
  constantPaths?: string[] | null;
}

/** The API's paths with their path part replaced by `constantPath`: the same query strings, as many of them. */
export function constantPathsLike(paths: string[], constantPath: string): string[] {
  return paths.map((p) => `${constantPath}${p.includes('?') ? p.slice(p.indexOf('?')) : ''}`);
}

/**
 * Loads the API and the hello-world alternately (warm-up, then reps), at fixed concurrency, then
 * the API at a fixed offered rate; with `constantPaths`, the constant route too, in the same
 * alternation. Returns the figures and the raw runs.
 */
export async function apiVersusHello(
  env: BenchEnv,
  sizes: Sizes,
  apiPort: number,
  helloPort: number,
  paths: string[],
  label: string,
  options: VersusHelloOptions = {},
): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const targets = options.targets ?? 'all';
  const subject = options.subject ?? 'serving';
  const traced = options.traced ?? null;
  const constantPaths = options.constantPaths ?? null;
  const storeTraces: Record<string, unknown>[] = [];
  const trace = async (): Promise<Record<string, { calls: number; avgMs: number }> | null> => {
    if (traced === null) return null;
    traced.signal('SIGUSR2');
    const message = await traced.next('trace', 10_000);
    const delay = message['loopDelay'] as { p50: number; p99: number; max: number } | undefined;
    if (delay !== undefined) loopDelays.push(delay);
    const fallbacks = message['fallbackReads'] as Record<string, number> | undefined;
    if (fallbacks !== undefined && Object.keys(fallbacks).length > 0) env.say(`    serving reads that went to the store so far: ${JSON.stringify(fallbacks)}`);
    return message['store'] as Record<string, { calls: number; avgMs: number }>;
  };
  const base = { connections: sizes.connections, durationS: sizes.loadS, maxRequests: 500_000 };
  const api = (durationS: number): Promise<LoadResult> => load({ ...base, durationS, port: apiPort, requests: paths.map((path) => ({ path })) });
  const hello = (durationS: number): Promise<LoadResult> => load({ ...base, durationS, port: helloPort, requests: [{ path: '/' }] });
  const constant = (durationS: number): Promise<LoadResult> =>
    load({ ...base, durationS, port: apiPort, requests: (constantPaths ?? []).map((path) => ({ path })) });
  // Every path once (10 at a time, bounded by count and time): the first read of a page loads its
  // batch views into memory; the runs below measure the steady state, this the cold reads.
  const coldStarted = performance.now();
  let next = 0;
  const deadline = Date.now() + 120_000;
  await Promise.all(
    Array.from({ length: Math.min(10, paths.length) }, async () => {
      while (next < paths.length && Date.now() < deadline) {
        const res = await fetch(`http://127.0.0.1:${apiPort}${paths[next++]!}`);
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`cold read answered ${res.status}`);
      }
    }),
  );
  const coldMs = performance.now() - coldStarted;
  env.say(`  cold reads: every one of ${paths.length} paths once in ${(coldMs / 1000).toFixed(1)} s (${Math.round(paths.length / (coldMs / 1000))} req/s, 10 at a time)`);
  env.say(`  warm-up: ${sizes.loadWarmupS} s each`);
  checkClean('hello warm-up', await hello(sizes.loadWarmupS));
  checkClean('API warm-up', await api(sizes.loadWarmupS));
  if (constantPaths !== null) checkClean('constant route warm-up', await constant(sizes.loadWarmupS));
  const apiRuns: LoadResult[] = [];
  const helloRuns: LoadResult[] = [];
  const rateRuns: LoadResult[] = [];
  /** The serving worker's event-loop delay over each traced interval (the last of each repetition: its fixed-rate run). */
  const loopDelays: { p50: number; p99: number; max: number }[] = [];
  const helloRateRuns: LoadResult[] = [];
  const constantRuns: LoadResult[] = [];
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
    if (constantPaths !== null) {
      const c = await constant(sizes.loadS);
      checkClean('constant route', c);
      constantRuns.push(c);
    }
    // Open loop (loadAtRate): latency from each request's due time. The reference: hello-world
    // offered the same requests at the same rate over as many connections, just before.
    const atFixedRate = (port: number): Promise<LoadResult> =>
      loadAtRate({ port, paths, rate: sizes.fixedRate, durationS: sizes.loadS, connections: Math.max(sizes.connections, 20) });
    const hr = await atFixedRate(helloPort);
    checkClean(`hello at ${sizes.fixedRate} req/s`, hr);
    helloRateRuns.push(hr);
    await trace();
    const r = await atFixedRate(apiPort);
    checkClean(`API at ${sizes.fixedRate} req/s`, r);
    rateRuns.push(r);
    await trace();
    const delay = loopDelays[loopDelays.length - 1];
    if (delay !== undefined) env.say(`    serving event-loop delay during the fixed-rate run: p50 ${delay.p50} ms, p99 ${delay.p99} ms, max ${delay.max} ms`);
    const c = constantRuns[rep];
    env.say(
      `  rep ${rep + 1}: hello ${Math.round(h.requestsPerSec)} req/s (p99 ${h.p99} ms); API ${Math.round(a.requestsPerSec)} req/s ` +
        `(p50 ${a.p50} ms, p99 ${a.p99} ms); ` +
        (c === undefined ? '' : `constant route ${Math.round(c.requestsPerSec)} req/s (p50 ${c.p50} ms, p99 ${c.p99} ms); `) +
        `API at ${sizes.fixedRate} req/s: ${Math.round(r.requestsPerSec)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms (hello at the same rate: p50 ${hr.p50} ms, p99 ${hr.p99} ms)`,
    );
  }
  const helloRef = (pick: (r: LoadResult) => number, meaning: string): { name: string; values: number[]; meaning: string } => ({
    name: `Express hello-world, ${sizes.connections} connections`,
    values: helloRuns.map(pick),
    meaning,
  });
  const throughput = figure(`${label} throughput, ${sizes.connections} connections`, 'req/s', 'higher', apiRuns.map((r) => r.requestsPerSec), helloRef((r) => r.requestsPerSec, 'API / hello-world'));
  throughput.target = {
    text: `${subject} throughput ≥ 0.5× the Express hello-world`,
    met: (throughput.ratio ?? 0) >= 0.5,
    why: `${(throughput.ratio ?? Number.NaN).toFixed(3)}× (${Math.round(throughput.value.median)} vs ${Math.round(throughput.reference?.value.median ?? Number.NaN)} req/s)`,
  };
  const helloAtRate = (pick: (r: LoadResult) => number, meaning: string): { name: string; values: number[]; meaning: string } => ({
    name: `Express hello-world at ${sizes.fixedRate} req/s offered`,
    values: helloRateRuns.map(pick),
    meaning,
  });
  const atRate = figure(`${label} p99 at ${sizes.fixedRate} req/s offered`, 'ms', 'lower', rateRuns.map((r) => r.p99), helloAtRate((r) => r.p99, 'API / hello-world, both at the fixed rate (p99)'));
  const achieved = rateRuns.map((r) => r.requestsPerSec);
  const keptUp = Math.min(...achieved) >= 0.95 * sizes.fixedRate;
  atRate.target = {
    text: `${subject} p99 ≤ 20 ms at 500 req/s`,
    met: sizes.fixedRate === 500 ? keptUp && atRate.value.median <= 20 : null,
    why: `median p99 ${atRate.value.median} ms; answered ${achieved.map((a) => Math.round(a)).join(', ')} req/s of ${sizes.fixedRate} offered${keptUp ? '' : ' (did not keep up)'}`,
  };
  if (targets === 'none') throughput.target = null;
  if (targets !== 'all') atRate.target = null;
  const figures = [
    throughput,
    figure(`${label} p50, ${sizes.connections} connections`, 'ms', 'lower', apiRuns.map((r) => r.p50), helloRef((r) => r.p50, 'API / hello-world (p50)')),
    figure(`${label} p99, ${sizes.connections} connections`, 'ms', 'lower', apiRuns.map((r) => r.p99), helloRef((r) => r.p99, 'API / hello-world (p99)')),
    atRate,
    figure(`${label} p50 at ${sizes.fixedRate} req/s offered`, 'ms', 'lower', rateRuns.map((r) => r.p50), helloAtRate((r) => r.p50, 'API / hello-world, both at the fixed rate (p50)')),
  ];
  if (constantPaths !== null) {
    const name = `${label} stack, constant route:`;
    const constantRps = constantRuns.map((r) => r.requestsPerSec);
    figures.push(
      figure(`${name} throughput, ${sizes.connections} connections`, 'req/s', 'higher', constantRps, helloRef((r) => r.requestsPerSec, 'constant route / hello-world')),
      figure(`${name} p99, ${sizes.connections} connections`, 'ms', 'lower', constantRuns.map((r) => r.p99), helloRef((r) => r.p99, 'constant route / hello-world (p99)')),
      figure(`${label} throughput vs the constant route, ${sizes.connections} connections`, 'req/s', 'higher', apiRuns.map((r) => r.requestsPerSec), {
        name: `constant route through the same stack, ${sizes.connections} connections`,
        values: constantRps,
        meaning: 'API / constant route',
      }),
    );
  }
  return { figures, details: { coldMs, apiRuns, helloRuns, rateRuns, helloRateRuns, constantRuns, storeTraces, loopDelays } };
}

/** A published batch over a fresh topic and database, and the worker variables that point at them. */
export interface PublishedBatch {
  topic: string;
  database: string;
  /** BENCH_BROKERS, BENCH_CLICKHOUSE_URL, BENCH_TOPIC, BENCH_DATABASE for the workers. */
  common: Record<string, string>;
  batchMs: number;
  /** Rows of batch_page_hour. */
  batchRows: number;
}

/**
 * Setup, not a figure: fills a fresh topic with `events` events and publishes their batch views
 * with runBatch (cutoff `cutoff`) into a fresh database; checks that the batch counted them all.
 */
export async function publishedBatch(env: BenchEnv, res: Resources, events: number, eventAt: (i: number) => PageView, cutoff: number): Promise<PublishedBatch> {
  const topic = await filledTopic(env, res, events, eventAt);
  const database = res.database();
  const log = new KafkaEventLog({ brokers: env.brokers, topic });
  const store = new ClickHouseViewStore({ url: env.clickhouseUrl, database });
  try {
    await store.migrate();
    const started = Date.now();
    const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
    const batchMs = Date.now() - started;
    const batchRows = Number((await clickhouse(env.clickhouseUrl, `SELECT count() FROM \`${database}\`.batch_page_hour`)).trim());
    if (run.rowsCounted !== events) throw new Error(`batch counted ${run.rowsCounted} of ${events} events`);
    const common = { BENCH_BROKERS: env.brokers.join(','), BENCH_CLICKHOUSE_URL: env.clickhouseUrl, BENCH_TOPIC: topic, BENCH_DATABASE: database };
    return { topic, database, common, batchMs, batchRows };
  } finally {
    await Promise.all([log.close(), store.close()]);
  }
}

export interface LiveServing {
  speed: Worker;
  pump: Worker;
  serving: Worker;
  apiPort: number;
  helloPort: number;
  /** The path of the serving worker's constant route. */
  constantPath: string;
}

/**
 * Over a published batch: a live speed layer starting at the end of the topic (the backlog is
 * the batch layer's), a TrafficPump over `pages` pages for up to `pumpMs`, the serving worker
 * and the hello-world; waits until the speed layer has checkpointed live minutes.
 */
export async function liveServing(env: BenchEnv, res: Resources, sizes: Sizes, batch: PublishedBatch, pages: number, pumpMs: number): Promise<LiveServing> {
  const group = res.group();
  await commitGroupAtEnd(env.brokers, batch.topic, group);
  const speed = await res.worker('speed-live', { ...batch.common, BENCH_GROUP: group });
  await speed.next('ready', 60_000);
  const pump = await res.worker('pump', { ...batch.common, BENCH_RATE: sizes.liveRate, BENCH_DURATION_MS: pumpMs, BENCH_PAGES: pages });
  await pump.next('ready', 60_000);
  const serving = await res.worker('serving', batch.common);
  const ready = await serving.next('ready', 60_000);
  const hello = await res.worker('hello', {});
  const helloPort = Number((await hello.next('ready', 60_000))['port']);
  // Let the speed layer checkpoint live minutes after the boundary.
  await sleep(2500);
  return { speed, pump, serving, apiPort: Number(ready['port']), helloPort, constantPath: String(ready['constantPath']) };
}

/** How long the load of apiVersusHello may take (ms), with room: the traffic pump runs that long. */
export function loadBudgetMs(env: BenchEnv, sizes: Sizes): number {
  // Per repetition: hello, API, constant route, fixed rate; one warm-up each of the first three.
  return (sizes.loadWarmupS * 3 + env.reps * sizes.loadS * 4) * 1000 + 120_000;
}

export async function benchServing(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const { servingPages: pages, servingDays: days } = sizes;
  const cutoff = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const events = pages * days * 24;
  // Setup (not a figure): the batch views of the whole grid, published.
  const batch = await publishedBatch(env, res, events, gridEvents(pages, days * 24, cutoff), cutoff);
  const { batchMs, batchRows } = batch;
  env.say(`  batch views: ${batchRows.toLocaleString('en')} page-hour rows (${pages} pages × ${days} days), runBatch ${(batchMs / 1000).toFixed(1)} s`);

  const { speed, pump, serving, apiPort, helloPort, constantPath } = await liveServing(env, res, sizes, batch, pages, loadBudgetMs(env, sizes));
  const paths = servingPaths(pages, days, cutoff);
  const sample = await checkMergedAnswer(apiPort, paths[1 % paths.length]!, cutoff);
  // The floor of a store read, with the live speed layer running but no API load.
  const roundTrips = await clickhouseRoundTrips(env.clickhouseUrl, 100);
  const clickhouseSelect1 = { p50: percentile(roundTrips, 50), p99: percentile(roundTrips, 99) };
  env.say(`  ClickHouse round trip (SELECT 1 over HTTP, no API load): p50 ${clickhouseSelect1.p50.toFixed(1)} ms, p99 ${clickhouseSelect1.p99.toFixed(1)} ms`);

  const constantPaths = constantPathsLike(paths, constantPath);
  const { figures, details } = await apiVersusHello(env, sizes, apiPort, helloPort, paths, 'Serving API', { traced: serving, constantPaths });
  await pump.stop();
  await speed.stop(30_000);
  return {
    id: 'serving',
    title: 'Serving API (merged time series)',
    figures,
    details: { pages, days, batchRows, batchMs, liveRate: sizes.liveRate, sample, clickhouseSelect1, constantPath, ...details },
    notes: [
      `Batch data: ${pages.toLocaleString('en')} pages × ${days} days (${batchRows.toLocaleString('en')} page-hour rows) published by runBatch; a live speed layer with ${sizes.liveRate.toLocaleString('en')} events/s of traffic after the boundary.`,
      `Query: one page per request (pages in turn), interval=day over the ${days} days before the boundary up to now: ${String(sample['buckets'])} buckets, ${String(sample['exactBuckets'])} exact.`,
      `autocannon in the harness process, ${sizes.connections} connections for ${sizes.loadS} s per repetition; the fixed-rate runs offer ${sizes.fixedRate} req/s over ${Math.max(sizes.connections, 20)} connections, open loop (bench/load.ts loadAtRate: latency from each request's due time), the same requests to the hello-world (the reference, which answers any path) and then to the API. autocannon's latency histogram has 1 ms resolution; against a hello-world at 500 req/s its overallRate pacing alone reported p99 98 ms (one path) and 218 ms (1,000 paths) on this machine, so it is not used for the fixed-rate runs.`,
      `Middleware share: \`${constantPath}\` answers a constant through the same app and the read API's middleware (read-key auth, request deadline, Cache-Control), with the API's query strings, loaded like the API in runs alternating with it and the hello-world.`,
      'The serving worker times every view-store call it makes (storeTraces in the results: calls per API request and mean time per call); the app\'s own batch read cache sits in front of it, so cached batch reads do not appear.',
    ],
  };
}
