/**
 * 4b. Serving stats (issue #14's second serving workload): `stats/aggregate` and
 * `stats/breakdown` for `period=30d` on a site with many pages, against the app of `npm start`,
 * compared with an Express hello-world as in the serving benchmark (bench/serving.ts).
 *
 * Data: one event per (page, day) for pages × days before the cutoff (start of the current UTC
 * hour), published by `runBatch`; a live speed layer (its group starts at the end of the topic)
 * fed by a TrafficPump over the same pages, so the range's end comes from the speed views.
 * Query: `GET /api/v1/stats/aggregate?site=<site>&period=30d` and
 * `GET /api/v1/stats/breakdown?site=<site>&period=30d`, alternating on every connection.
 */
import { DEFAULT_SITE } from '../shared/core/page-view.ts';
import { dailyGridEvents, HOUR_MS } from './events.ts';
import type { BenchResult } from './figures.ts';
import type { BenchEnv, Resources } from './harness.ts';
import { apiVersusHello, liveServing, loadBudgetMs, publishedBatch } from './serving.ts';
import type { Sizes } from './sizes.ts';

export function statsPaths(site: string): string[] {
  const q = `site=${encodeURIComponent(site)}&period=30d`;
  return [`/api/v1/stats/aggregate?${q}`, `/api/v1/stats/breakdown?${q}`];
}

interface AggregateBody {
  exactThrough?: string | null;
  results?: { pageviews?: { value: number; exact: boolean }; visitors?: { value: number; exact: boolean } };
}
interface BreakdownBody {
  exactThrough?: string | null;
  total?: number;
  results?: { page: string; pageviews: number; exact: boolean }[];
}

async function getJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(30_000) });
  const body = (await res.json()) as T;
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(body).slice(0, 500)}`);
  return body;
}

/** Checks that both answers cover the published batch (boundary, every page) and the speed views after it. */
export async function checkStatsAnswers(port: number, paths: string[], cutoff: number, pages: number): Promise<Record<string, unknown>> {
  const [aggregatePath, breakdownPath] = paths as [string, string];
  const aggregate = await getJson<AggregateBody>(port, aggregatePath);
  const breakdown = await getJson<BreakdownBody>(port, breakdownPath);
  const boundary = new Date(cutoff).toISOString();
  const views = aggregate.results?.pageviews;
  if (aggregate.exactThrough !== boundary || views === undefined || views.value <= 0 || views.exact) {
    throw new Error(`${aggregatePath} is not a merged answer over the batch: exactThrough ${aggregate.exactThrough}, pageviews ${JSON.stringify(views)}`);
  }
  if (breakdown.exactThrough !== boundary || breakdown.total !== pages || (breakdown.results ?? []).length === 0) {
    throw new Error(`${breakdownPath} does not break down the ${pages} pages: exactThrough ${breakdown.exactThrough}, total ${breakdown.total}, ${(breakdown.results ?? []).length} results`);
  }
  return {
    pageviews: views.value,
    visitors: aggregate.results?.visitors?.value ?? null,
    totalPages: breakdown.total,
    breakdownResults: (breakdown.results ?? []).length,
    topPage: breakdown.results?.[0]?.page ?? null,
  };
}

export async function benchServingStats(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const { statsPages: pages, statsDays: days } = sizes;
  const cutoff = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const events = pages * days;
  const batch = await publishedBatch(env, res, events, dailyGridEvents(pages, days, cutoff), cutoff);
  env.say(`  batch views: ${batch.batchRows.toLocaleString('en')} page-hour rows (${pages.toLocaleString('en')} pages × ${days} days, one event per page-day), runBatch ${(batch.batchMs / 1000).toFixed(1)} s`);

  const { speed, pump, serving, apiPort, helloPort } = await liveServing(env, res, sizes, batch, pages, loadBudgetMs(env, sizes));
  const paths = statsPaths(DEFAULT_SITE);
  const sample = await checkStatsAnswers(apiPort, paths, cutoff, pages);
  env.say(`  sample: ${String(sample['pageviews'])} page views, ${String(sample['totalPages'])} pages in the breakdown`);

  const { figures, details } = await apiVersusHello(env, sizes, apiPort, helloPort, paths, `Stats API (aggregate + breakdown, ${pages.toLocaleString('en')} pages)`, {
    targets: 'throughput',
    subject: `stats API (aggregate + breakdown, period=30d, ${pages.toLocaleString('en')} pages)`,
    traced: serving,
  });
  await pump.stop();
  await speed.stop(30_000);
  return {
    id: 'serving-stats',
    title: 'Serving stats (aggregate + breakdown, period=30d)',
    figures,
    details: { pages, days, events, batchRows: batch.batchRows, batchMs: batch.batchMs, liveRate: sizes.liveRate, paths, sample, ...details },
    notes: [
      `Batch data: ${pages.toLocaleString('en')} pages × ${days} days of site \`${DEFAULT_SITE}\`, one event per page-day (${batch.batchRows.toLocaleString('en')} page-hour rows) published by runBatch; ` +
        `a live speed layer with ${sizes.liveRate.toLocaleString('en')} events/s of traffic over the same pages after the boundary.`,
      `Queries: \`${paths.join('` and `')}\`, alternating on every connection. A sample answer: ${String(sample['pageviews'])} page views, ${String(sample['totalPages'])} pages in the breakdown.`,
      `autocannon in the harness process, ${sizes.connections} connections for ${sizes.loadS} s per repetition; the fixed-rate runs offer ${sizes.fixedRate} req/s over ${Math.max(sizes.connections, 20)} connections, open loop (loadAtRate), the same requests to the hello-world (the reference) and then to the API. The issue states a target for the throughput ratio only.`,
    ],
  };
}
