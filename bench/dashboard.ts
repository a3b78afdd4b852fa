/**
 * The live dashboard in a real browser (issue #18): what a cold load transfers, and how soon the
 * first numbers are on screen.
 *
 * The product's entry point is started as a user starts it (`node --import tsx cli/start.ts`,
 * what `npm start` runs) on the embedded default: a fresh temporary DATA_DIR, none of the
 * platform's variables inherited, PORT=0 and HOST=127.0.0.1, the built-in generator on. Once
 * /api/v1/ready answers 200 and /api/v1/sites lists a site (the generator's page views have
 * reached the speed layer), Debian's chromium (playwright-core, scripts/chromium.ts) loads
 * `http://127.0.0.1:<port>/` in a fresh context per repetition (cold cache, 1280×900) and waits
 * for the dashboard's 'pv-numbers' performance mark (set once its first numbers are painted).
 * From the page's own performance entries: first contentful paint, the mark's time (the first
 * meaningful paint), and the transferSize of the navigation and resource entries, the
 * dashboard's files (every URL not under /api/) apart from the API's answers.
 *
 * References, same run: the same chromium loading a bare page (one heading) from a bare Node
 * http server on 127.0.0.1, in a fresh context, alternating with the dashboard's loads: its
 * first contentful paint is the floor of any page's. For the transfer, the issue's target,
 * 150 KB gzipped (1 KB = 1,000 bytes here): the dashboard's files as the server sends them
 * with Accept-Encoding: gzip (bytes of the bodies, fetched from Node), deterministic.
 *
 * Bounded: one warm-up load of each page, then `reps` loads of each, each with a timeout;
 * chromium resolves no host name (only 127.0.0.1 is reachable), and a request to anywhere else
 * fails the benchmark.
 */
/// <reference lib="dom" />
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_INSTALL, CHROMIUM_PATH } from '../scripts/chromium.ts';
import { figure, type BenchResult } from './figures.ts';
import { sleep, type BenchEnv, type Resources } from './harness.ts';
import { startBenchPlatform } from './platform-process.ts';
import type { Sizes } from './sizes.ts';
import { median } from './stats.ts';

/** Issue #18: the dashboard's transfer, gzipped, in KB (1 KB = 1,000 bytes). */
export const DASHBOARD_TRANSFER_TARGET_KB = 150;
const KB = 1000;
const READY_TIMEOUT_MS = 120_000;
/** Until the generator's first page views are listed by /api/v1/sites. */
const SITES_TIMEOUT_MS = 60_000;
/** One page load, up to its 'pv-numbers' mark (or the reference's first contentful paint). */
const LOAD_TIMEOUT_MS = 30_000;
const VIEWPORT = { width: 1280, height: 900 };
/** Chromium resolves no name: nothing but 127.0.0.1 (an address, not a name) can be reached. */
const LOCAL_ONLY_ARGS = ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'];
const REFERENCE_PAGE = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Reference</title></head><body><h1>Page-view analytics</h1></body></html>';

interface DashboardLoad {
  /** first-contentful-paint, ms after navigation start. */
  fcpMs: number;
  /** The 'pv-numbers' mark, ms after navigation start. */
  numbersMs: number;
  /** Sum of transferSize over the navigation and resource entries not under /api/. */
  filesBytes: number;
  /** Sum of transferSize over the resource entries under /api/ complete at the mark. */
  apiBytes: number;
  /** URL path → transferSize, as the page saw them at the mark. */
  entries: Record<string, number>;
  /** The page views the top stats show (the numbers were real, not the empty state). */
  pageviewsShown: number | null;
}

interface ReferenceLoad {
  fcpMs: number;
  bytes: number;
}

/** Waits until /api/v1/sites lists a site: the dashboard then opens on numbers, not on its empty state. */
async function waitForSite(base: string): Promise<string> {
  const started = performance.now();
  for (;;) {
    const sites = await fetch(`${base}/api/v1/sites`, { signal: AbortSignal.timeout(5000) }).then(
      async (r) => (r.status === 200 ? ((await r.json()) as { sites?: (string | { site: string })[] }).sites ?? [] : []),
      () => [],
    );
    const first = sites[0];
    if (first !== undefined) return typeof first === 'string' ? first : first.site;
    if (performance.now() - started > SITES_TIMEOUT_MS) throw new Error(`/api/v1/sites listed no site within ${SITES_TIMEOUT_MS / 1000} s of ready (the generator's page views did not arrive)`);
    await sleep(500);
  }
}

/** The body of `url` as the server sends it to a client accepting `encoding`: its bytes, undecoded. */
function servedBytes(url: string, encoding: 'gzip' | 'identity'): Promise<{ bytes: number; encoding: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { 'accept-encoding': encoding }, timeout: 10_000 }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode}`));
        else resolve({ bytes, encoding: String(res.headers['content-encoding'] ?? 'identity') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    req.on('error', reject);
  });
}

/** A bare Node http server answering one static page: the reference. */
async function referenceServer(res: Resources): Promise<string> {
  const server = http.createServer((_req, reply) => {
    reply.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(REFERENCE_PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  res.onCleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** A page load in a fresh context (cold cache); fails when the page asks for anything off 127.0.0.1. */
async function inFreshContext<T>(browser: Browser, url: string, measure: (page: Page) => Promise<T>): Promise<T> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(LOAD_TIMEOUT_MS);
    const offHost: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '127.0.0.1') offHost.push(r.url());
    });
    await page.goto(url, { waitUntil: 'commit', timeout: LOAD_TIMEOUT_MS });
    const result = await measure(page);
    if (offHost.length > 0) throw new Error(`the page asked for something off 127.0.0.1: ${offHost.slice(0, 3).join(', ')}`);
    return result;
  } finally {
    await context.close();
  }
}

async function loadDashboard(browser: Browser, url: string): Promise<DashboardLoad> {
  return inFreshContext(browser, url, async (page) => {
    await page.waitForFunction(
      () => window.performance.getEntriesByName('pv-numbers').length > 0 && window.performance.getEntriesByName('first-contentful-paint').length > 0,
      null,
      { timeout: LOAD_TIMEOUT_MS },
    );
    const read = await page.evaluate(() => {
      const entries: Record<string, number> = {};
      let filesBytes = 0;
      let apiBytes = 0;
      const all = [...window.performance.getEntriesByType('navigation'), ...window.performance.getEntriesByType('resource')] as PerformanceResourceTiming[];
      for (const e of all) {
        const u = new URL(e.name);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
        const key = `${u.pathname}${u.search}`;
        entries[key] = (entries[key] ?? 0) + e.transferSize;
        if (u.pathname.startsWith('/api/')) apiBytes += e.transferSize;
        else filesBytes += e.transferSize;
      }
      const shown = document.querySelector('.stat-value[data-metric="pageviews"]')?.getAttribute('data-value');
      return {
        fcpMs: window.performance.getEntriesByName('first-contentful-paint')[0]!.startTime,
        numbersMs: window.performance.getEntriesByName('pv-numbers')[0]!.startTime,
        filesBytes,
        apiBytes,
        entries,
        pageviewsShown: shown === null || shown === undefined || shown === '' ? null : Number(shown),
      };
    });
    return read;
  });
}

async function loadReference(browser: Browser, url: string): Promise<ReferenceLoad> {
  return inFreshContext(browser, url, async (page) => {
    await page.waitForFunction(() => window.performance.getEntriesByName('first-contentful-paint').length > 0, null, { timeout: LOAD_TIMEOUT_MS });
    return page.evaluate(() => ({
      fcpMs: window.performance.getEntriesByName('first-contentful-paint')[0]!.startTime,
      bytes: (window.performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).transferSize,
    }));
  });
}

export async function benchDashboard(env: BenchEnv, res: Resources, _sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`chromium is not installed at ${CHROMIUM_PATH}: run '${CHROMIUM_INSTALL}' (not measured)`);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pv-bench-dashboard-'));
  res.onCleanup(() => rm(dataDir, { recursive: true, force: true }));
  const t0 = performance.now();
  const platform = await startBenchPlatform(res, { name: 'npm start (embedded, GENERATOR=on)', env: { DATA_DIR: dataDir, GENERATOR: 'on' }, readyTimeoutMs: READY_TIMEOUT_MS });
  const { readyMs } = platform;
  const site = await waitForSite(platform.base);
  env.say(`  npm start (embedded, generator on) ready in ${(readyMs / 1000).toFixed(1)} s at ${platform.base}; site '${site}' listed after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const referenceUrl = await referenceServer(res);

  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...LOCAL_ONLY_ARGS], headless: true, timeout: 30_000 });
  res.onCleanup(() => browser.close());
  const dashboardUrl = `${platform.base}/`;

  // Warm-up: one load of each (the server's JIT, chromium's own first start), not recorded.
  const warm = await loadDashboard(browser, dashboardUrl);
  await loadReference(browser, referenceUrl);
  const loads: DashboardLoad[] = [];
  const refs: ReferenceLoad[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    // Alternating, reference first in odd repetitions, so neither always follows the other.
    const order = rep % 2 === 0 ? (['dashboard', 'reference'] as const) : (['reference', 'dashboard'] as const);
    for (const which of order) {
      if (which === 'dashboard') loads.push(await loadDashboard(browser, dashboardUrl));
      else refs.push(await loadReference(browser, referenceUrl));
    }
    const d = loads[loads.length - 1]!;
    const r = refs[refs.length - 1]!;
    env.say(
      `  rep ${rep + 1}: FCP ${d.fcpMs.toFixed(0)} ms, numbers painted ${d.numbersMs.toFixed(0)} ms (${d.pageviewsShown ?? '–'} page views shown); ` +
        `transferred ${(d.filesBytes / KB).toFixed(1)} KB files + ${(d.apiBytes / KB).toFixed(1)} KB API; reference FCP ${r.fcpMs.toFixed(0)} ms`,
    );
  }

  // The dashboard's files as served gzipped: every non-API URL the page loaded.
  const fileUrls = Object.keys(warm.entries).filter((p) => !p.startsWith('/api/'));
  const files: { path: string; gzipBytes: number; identityBytes: number; encoding: string }[] = [];
  for (const p of fileUrls) {
    const gz = await servedBytes(`${platform.base}${p}`, 'gzip');
    const plain = await servedBytes(`${platform.base}${p}`, 'identity');
    files.push({ path: p, gzipBytes: gz.bytes, identityBytes: plain.bytes, encoding: gz.encoding });
  }
  const gzipBytes = files.reduce((s, f) => s + f.gzipBytes, 0);
  const identityBytes = files.reduce((s, f) => s + f.identityBytes, 0);
  env.say(`  files as served: ${files.map((f) => `${f.path} ${(f.gzipBytes / KB).toFixed(1)} KB ${f.encoding}`).join(', ')}; ${(gzipBytes / KB).toFixed(1)} KB gzipped (${(identityBytes / KB).toFixed(1)} KB uncompressed)`);
  if (files.some((f) => f.encoding !== 'gzip')) env.say(`  note: not gzipped by the server: ${files.filter((f) => f.encoding !== 'gzip').map((f) => f.path).join(', ')}`);

  const target = { name: `the issue's target, ${DASHBOARD_TRANSFER_TARGET_KB} KB`, values: [DASHBOARD_TRANSFER_TARGET_KB], meaning: 'measured / target' };
  const totals = loads.map((l) => (l.filesBytes + l.apiBytes) / KB);
  const filesGz = figure("Dashboard's files (page, script, styles, uPlot), gzipped as served", 'KB', 'lower', loads.map(() => gzipBytes / KB), target, {
    text: `The dashboard's transfer ≤ ${DASHBOARD_TRANSFER_TARGET_KB} KB gzipped (issue #18; 1 KB = 1,000 bytes)`,
    met: gzipBytes <= DASHBOARD_TRANSFER_TARGET_KB * KB,
    why:
      `its files ${(gzipBytes / KB).toFixed(1)} KB gzipped as served (${files.length} files, ${(identityBytes / KB).toFixed(1)} KB uncompressed); ` +
      `a cold load transferred ${median(totals).toFixed(1)} KB in all (median), files ${median(loads.map((l) => l.filesBytes / KB)).toFixed(1)} KB with headers ` +
      `and API answers ${median(loads.map((l) => l.apiBytes / KB)).toFixed(1)} KB, by the page's transferSize at its first numbers`,
  });
  const filesTransfer = figure("Transferred on a cold load: the dashboard's files (transferSize, headers included)", 'KB', 'lower', loads.map((l) => l.filesBytes / KB));
  const apiTransfer = figure('Transferred on a cold load: API answers until the first numbers', 'KB', 'lower', loads.map((l) => l.apiBytes / KB));
  const total = figure('Transferred on a cold load: total until the first numbers', 'KB', 'lower', totals, target);
  const refFcp = refs.map((r) => r.fcpMs);
  const fcp = figure('Dashboard first contentful paint (cold load)', 'ms', 'lower', loads.map((l) => l.fcpMs), {
    name: 'bare page (one heading) FCP, Node http server',
    values: refFcp,
    meaning: 'dashboard / bare page',
  });
  const numbers = figure("Dashboard's first numbers painted ('pv-numbers' mark; first meaningful paint)", 'ms', 'lower', loads.map((l) => l.numbersMs), {
    name: 'bare page (one heading) FCP, Node http server',
    values: refFcp,
    meaning: 'numbers painted / bare page FCP',
  });
  return {
    id: 'dashboard',
    title: 'Live dashboard in a real browser (cold load)',
    figures: [filesGz, total, filesTransfer, apiTransfer, fcp, numbers],
    details: {
      chromium: browser.version(),
      viewport: VIEWPORT,
      readyMs,
      site,
      files,
      gzipBytes,
      identityBytes,
      warmup: warm,
      loads,
      references: refs,
    },
    notes: [
      '`node --import tsx cli/start.ts` (what `npm start` runs) on the embedded default, a fresh DATA_DIR, GENERATOR=on, PORT=0 on 127.0.0.1, no platform variable inherited; ' +
        'measured once /api/v1/ready answers 200 and /api/v1/sites lists a site.',
      `Debian's chromium (headless, playwright-core), a fresh context per load (cold cache), ${VIEWPORT.width}×${VIEWPORT.height}; one warm-up load of each page, then the dashboard and the reference alternate. ` +
        "Times are the page's own: the first-contentful-paint entry and the 'pv-numbers' mark, in ms after navigation start.",
      "Transfer: transferSize of the navigation and resource entries complete at the mark (the realtime stream, still open, is not among them); files are every URL not under /api/. " +
        `The target line is judged on the files' gzipped bodies as the server sends them (Accept-Encoding: gzip), 1 KB = 1,000 bytes.`,
    ],
  };
}
