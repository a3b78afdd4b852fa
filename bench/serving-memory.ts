/**
 * 8. Serving memory (issue #14): the serving process's RSS with pages × days of published batch
 * views, once every page's day series has been read, beside the configured serving memory budget.
 *
 * Data: one event per (page, day) for pages × days before the cutoff (start of the current UTC
 * hour), published by `runBatch`; no speed layer (the figure is about batch views).
 * Each repetition starts a fresh serving worker (with --expose-gc), takes its memory after a full
 * GC (the baseline), requests `GET /api/v1/pages/<page>/views?interval=day&from=<cutoff − days>`
 * once for every page (a bounded loop from this process, 127.0.0.1 only), checks every answer,
 * and takes its memory after a full GC again.
 *
 * Target (issue #14), with 10,000 pages × 400 days: stated and within the configured budget,
 * read as: RSS over the baseline ≤ the budget on every repetition.
 */
import { performance } from 'node:perf_hooks';
import { ENVIRONMENT_VARIABLES } from '../shared/runtime/environment.ts';
import { dailyGridEvents, HOUR_MS } from './events.ts';
import { figure, MiB, type BenchResult } from './figures.ts';
import { sleep, type BenchEnv, type Resources, type Worker } from './harness.ts';
import { publishedBatch, servingPaths } from './serving.ts';
import type { Sizes } from './sizes.ts';

/** The size the issue states the target for. */
const TARGET_PAGES = 10_000;
const TARGET_DAYS = 400;
/** One request may take this long (ms) before the run fails. */
const REQUEST_TIMEOUT_MS = 30_000;

interface MemoryReport {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  maxRss: number;
  /** Whether a full GC ran first (the worker has --expose-gc). */
  gc: boolean;
  /** The serving memory budget the worker configured (BENCH_SERVING_BUDGET_MB). */
  budgetBytes: number;
}

async function memoryOf(serving: Worker): Promise<MemoryReport> {
  serving.signal('SIGUSR2');
  const m = await serving.next('memory', 30_000);
  const n = (key: string): number => Number(m[key]);
  return {
    rss: n('rss'),
    heapTotal: n('heapTotal'),
    heapUsed: n('heapUsed'),
    external: n('external'),
    arrayBuffers: n('arrayBuffers'),
    maxRss: n('maxRss'),
    gc: m['gc'] === true,
    budgetBytes: n('budgetBytes'),
  };
}

/**
 * Requests every path once, `concurrency` at a time, within `maxMs` in all; every answer must be
 * 200, exact through the boundary, and count `days` views (one event per page-day).
 */
async function readEveryPage(port: number, paths: string[], cutoff: number, days: number, concurrency: number, maxMs: number): Promise<{ requests: number; ms: number }> {
  const boundary = new Date(cutoff).toISOString();
  const started = performance.now();
  let next = 0;
  const wrong: string[] = [];
  const client = async (): Promise<void> => {
    while (next < paths.length) {
      if (performance.now() - started > maxMs) throw new Error(`read ${next} of ${paths.length} pages within ${maxMs} ms`);
      const path = paths[next++]!;
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const body = (await res.json()) as { exactThrough?: string | null; series?: { views: number }[] };
      if (!res.ok) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      const views = (body.series ?? []).reduce((sum, p) => sum + p.views, 0);
      if (body.exactThrough !== boundary || views !== days) wrong.push(`${path}: exactThrough ${body.exactThrough}, ${views} views`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, paths.length) }, client));
  if (wrong.length > 0) throw new Error(`${wrong.length} of ${paths.length} answers do not count ${days} views through ${boundary}, e.g. ${wrong.slice(0, 3).join('; ')}`);
  return { requests: paths.length, ms: performance.now() - started };
}

const mib = (bytes: number): string => (bytes / MiB).toFixed(0);

export async function benchServingMemory(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const { servingMemoryPages: pages, servingMemoryDays: days } = sizes;
  const cutoff = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const events = pages * days;
  const batch = await publishedBatch(env, res, events, dailyGridEvents(pages, days, cutoff), cutoff);
  env.say(`  batch views: ${batch.batchRows.toLocaleString('en')} page-hour rows (${pages.toLocaleString('en')} pages × ${days} days, one event per page-day), runBatch ${(batch.batchMs / 1000).toFixed(1)} s`);
  const paths = servingPaths(pages, days, cutoff);
  const maxMs = 60_000 + pages * 100;

  const runs: { before: MemoryReport; after: MemoryReport; later: MemoryReport; requests: number; ms: number }[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    const serving = await res.worker('serving', { ...batch.common, BENCH_MEMORY_REPORT: 1 }, ['--expose-gc']);
    const port = Number((await serving.next('ready', 60_000))['port']);
    const before = await memoryOf(serving);
    const read = await readEveryPage(port, paths, cutoff, days, sizes.connections, maxMs);
    const after = await memoryOf(serving);
    // Ten seconds without requests: what V8 and the allocator give back once the load is over.
    await sleep(10_000);
    const later = await memoryOf(serving);
    await serving.stop();
    if (!after.gc) env.say('  the serving worker ran no GC before reporting (no --expose-gc): the figures include garbage');
    runs.push({ before, after, later, ...read });
    env.say(
      `  rep ${rep + 1}: read ${read.requests.toLocaleString('en')} pages in ${(read.ms / 1000).toFixed(1)} s (${Math.round(read.requests / (read.ms / 1000))} req/s); ` +
        `RSS ${mib(after.rss)} MiB (baseline ${mib(before.rss)} MiB, +${mib(after.rss - before.rss)} MiB), peak ${mib(after.maxRss)} MiB; ` +
        `heap used ${mib(after.heapUsed)} of ${mib(after.heapTotal)} MiB, external ${mib(after.external)} MiB (array buffers ${mib(after.arrayBuffers)} MiB); budget ${mib(after.budgetBytes)} MiB; ` +
        `10 s later: RSS ${mib(later.rss)} MiB (+${mib(later.rss - before.rss)} MiB), heap ${mib(later.heapUsed)} of ${mib(later.heapTotal)} MiB`,
    );
  }

  const label = `${pages.toLocaleString('en')} pages × ${days} days`;
  const budget = { name: 'configured serving memory budget (BENCH_SERVING_BUDGET_MB)', values: runs.map((r) => r.after.budgetBytes / MiB) };
  const growth = runs.map((r) => (r.after.rss - r.before.rss) / MiB);
  const rss = figure(`Serving RSS after reading every page once, ${label}`, 'MiB', 'lower', runs.map((r) => r.after.rss / MiB), { ...budget, meaning: 'RSS / budget' });
  const overBaseline = figure(`Serving RSS over its baseline before loading, ${label}`, 'MiB', 'lower', growth, { ...budget, meaning: 'RSS growth / budget' });
  const overBaselineLater = figure(`Serving RSS over its baseline 10 s after the reads, ${label}`, 'MiB', 'lower', runs.map((r) => (r.later.rss - r.before.rss) / MiB), {
    ...budget,
    meaning: 'RSS growth / budget',
  });
  const worst = Math.max(...growth);
  const budgetMiB = Math.min(...budget.values);
  const atTargetSize = pages === TARGET_PAGES && days === TARGET_DAYS;
  const last = runs[runs.length - 1]!;
  overBaseline.target = {
    text: `serving RSS with ${TARGET_PAGES.toLocaleString('en')} pages × ${TARGET_DAYS} days of batch views: stated and within the configured budget (RSS over the baseline ≤ budget)`,
    met: atTargetSize ? worst <= budgetMiB : null,
    why:
      `RSS ${runs.map((r) => mib(r.after.rss)).join(', ')} MiB over baselines of ${runs.map((r) => mib(r.before.rss)).join(', ')} MiB: ` +
      `+${growth.map((g) => g.toFixed(0)).join(', ')} MiB (worst ${worst.toFixed(0)}) vs a ${budgetMiB.toFixed(0)} MiB budget; ` +
      `heap used ${mib(last.after.heapUsed)} MiB, external ${mib(last.after.external)} MiB, array buffers ${mib(last.after.arrayBuffers)} MiB (last repetition)` +
      (atTargetSize ? '' : `; measured at ${label}, not the issue's size`),
  };
  return {
    id: 'serving-memory',
    title: 'Serving memory (batch views held by the serving process)',
    figures: [
      rss,
      overBaseline,
      overBaselineLater,
      figure(`Serving live heap (heap used + external) after reading every page once, ${label}`, 'MiB', 'lower', runs.map((r) => (r.after.heapUsed + r.after.external) / MiB), {
        ...budget,
        meaning: 'live heap / budget',
      }),
      figure(`Serving peak RSS while reading every page once, ${label}`, 'MiB', 'lower', runs.map((r) => r.after.maxRss / MiB), { ...budget, meaning: 'peak RSS / budget' }),
    ],
    details: { pages, days, events, batchRows: batch.batchRows, batchMs: batch.batchMs, maxMs, runs },
    notes: [
      `Batch data: ${label}, one event per page-day (${batch.batchRows.toLocaleString('en')} page-hour rows) published by runBatch; no speed layer.`,
      `Each repetition: a fresh serving worker (--expose-gc); process.memoryUsage() after a full GC before any request (the baseline), then after one request per page ` +
        `(\`interval=day\` from ${days} days before the boundary: every answer checked to count ${days} views), ${sizes.connections} requests at a time from the harness.`,
      `Budget: BENCH_SERVING_BUDGET_MB, set as the worker's SERVING_MEMORY_BUDGET_MB (default ${ENVIRONMENT_VARIABLES.SERVING_MEMORY_BUDGET_MB.default} MiB): the speed views and the resident batch blocks together; ` +
        `the cache of the batch reads the blocks do not hold has its own budget (SERVING_CACHE_BUDGET_MB, default ${ENVIRONMENT_VARIABLES.SERVING_CACHE_BUDGET_MB.default} MiB).`,
    ],
  };
}
