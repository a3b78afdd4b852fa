/**
 * The first run, end to end: `npm start`'s entry point on an empty DATA_DIR (embedded log and
 * DuckDB, generator on) back-fills history and publishes a batch over it before it serves;
 * a restart on the same DATA_DIR does not back-fill again; GENERATOR=off does none of it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SITE } from '../../shared/core/page-view.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { planHistory } from '../../shared/tools/history-backfill.ts';
import { startPlatformProcess, type PlatformProcess } from '../support/platform-process.ts';

const DAY = 86_400_000;
const DAYS = 7;
const PER_DAY = 1000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-first-run-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function start(name: string, env: Record<string, string>): Promise<PlatformProcess> {
  const platform = await startPlatformProcess({ name, env });
  cleanups.push(() => platform.stop());
  return platform;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const exactThrough = async (p: PlatformProcess): Promise<string | null> => (await getJson<{ exactThrough: string | null }>(`${p.base}/api/v1/boundary`)).exactThrough;

interface Aggregate {
  exactThrough: string | null;
  results: { pageviews: { value: number; exact: boolean } };
}
function aggregate(p: PlatformProcess, range: string): Promise<Aggregate> {
  return getJson<Aggregate>(`${p.base}/api/v1/stats/aggregate?site_id=${DEFAULT_SITE}&metrics=pageviews&${range}`);
}
async function speedEvents(p: PlatformProcess, outcome: string): Promise<number> {
  const res = await fetch(`${p.base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const match = new RegExp(`^pv_speed_events_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(await res.text());
  return match === null ? 0 : Number(match[1]);
}
const historyRange = (cutoff: number): string => `from=${new Date(cutoff - DAYS * DAY).toISOString()}&to=${new Date(cutoff).toISOString()}`;

describe('first run (npm start on an empty DATA_DIR)', () => {
  it('back-fills history and publishes a batch over it before serving; a restart does not back-fill again', async () => {
    const dataDir = await tempDir();
    const env = { DATA_DIR: dataDir, GENERATOR: 'on', GENERATOR_RATE: '2', GENERATOR_HISTORY_DAYS: String(DAYS), GENERATOR_HISTORY_EVENTS_PER_DAY: String(PER_DAY) };
    const hourBefore = bucketStart(Date.now(), 'hour');
    const first = await start('first start', env);
    const hourAfter = bucketStart(Date.now(), 'hour');

    // The boundary is published before the server listens: the start of the hour the process started in.
    const boundary = await exactThrough(first);
    expect([new Date(hourBefore).toISOString(), new Date(hourAfter).toISOString()]).toContain(boundary);
    const cutoff = Date.parse(boundary!);
    expect(first.tail()).toMatch(new RegExp(`back-filled ${(DAYS * PER_DAY).toLocaleString('en')} page views over ${DAYS} days`));

    // One run, over the history only; no speed-vs-batch divergence (the speed layer never saw the history).
    const { runs } = await getJson<{ runs: { status: string; rowsCounted: number; divergence?: unknown }[] }>(`${first.base}/api/v1/batch/runs`);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'success', rowsCounted: DAYS * PER_DAY });
    expect(runs[0]?.divergence ?? null).toBeNull();
    expect(first.tail()).not.toMatch(/diverge/);
    // Nor does the compare report set the history against speed views that never counted it,
    // the hours of the cutoff's day before it included: the speed views are held from the cutoff.
    const compared = await getJson<{ speedKeptFrom: string | null; rows: unknown[]; nothingToCompare: string | null }>(
      `${first.base}/api/v1/compare?from=${new Date(bucketStart(cutoff, 'day')).toISOString()}&to=${new Date(cutoff).toISOString()}`,
    );
    expect(compared).toMatchObject({ speedKeptFrom: boundary, rows: [] });
    expect(compared.nothingToCompare).toContain(`the speed layer keeps its views from ${boundary}`);

    // The whole history is before the boundary, exact.
    const history = await aggregate(first, historyRange(cutoff));
    expect(history.results.pageviews).toMatchObject({ value: DAYS * PER_DAY, exact: true });
    // period=7d (the 6 days before today and today): the history in it, and the live traffic after the boundary.
    const today = bucketStart(Date.now(), 'day');
    const plan = planHistory({ until: cutoff, days: DAYS, eventsPerDay: PER_DAY });
    const inPeriod = plan.hours.reduce((sum, n, i) => sum + (plan.from + i * 3_600_000 >= today - 6 * DAY ? n : 0), 0);
    const week = await aggregate(first, 'period=7d');
    expect(week.exactThrough).toBe(boundary);
    expect(week.results.pageviews.value).toBeGreaterThanOrEqual(inPeriod);
    expect(week.results.pageviews.value).toBeLessThan(inPeriod + 10_000);

    // The speed layer knew the boundary before it consumed: the history is the batch layer's, not counted again.
    await expect.poll(async () => speedEvents(first, 'before_boundary'), { timeout: 10_000 }).toBe(DAYS * PER_DAY);

    // A restart on the same DATA_DIR: no second back-fill, the same boundary and history.
    await first.stop();
    const second = await start('second start', env);
    expect(second.tail()).not.toMatch(/back-fill/);
    expect(await exactThrough(second)).toBe(boundary);
    expect((await aggregate(second, historyRange(cutoff))).results.pageviews).toMatchObject({ value: DAYS * PER_DAY, exact: true });
  }, 120_000);

  it('GENERATOR=off: no history, no batch run, exactThrough null', async () => {
    const dataDir = await tempDir();
    const platform = await start('generator off', { DATA_DIR: dataDir, GENERATOR: 'off' });
    expect(platform.tail()).not.toMatch(/back-fill/);
    expect(await exactThrough(platform)).toBeNull();
    const cutoff = bucketStart(Date.now(), 'hour');
    expect((await aggregate(platform, historyRange(cutoff))).results.pageviews.value).toBe(0);
  }, 60_000);
});
