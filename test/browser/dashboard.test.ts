/**
 * The live dashboard in a real browser (Debian's chromium, headless), against the product's
 * entry point as a user starts it: `cli/start.ts` on the embedded default (embedded log, DuckDB,
 * the built-in generator and its first-run history, the batch run at start), in a fresh DATA_DIR.
 *
 * The test posts its own events for a site of its own (the generator fills `default`), so the
 * numbers it checks do not move under it, then checks what a user sees against the API's
 * answers to the same queries: the top stats, the boundary marker, a click on a page filtering
 * the chart and the other panels, a new event reaching the realtime counter by push, keyboard
 * navigation and an accessibility check (IBM's accessibility-checker-engine, Apache-2.0: no
 * violation). A second start with READ_API_KEYS and the generator off shows the key prompt and
 * the empty state. Screenshots of each state go to a temporary folder, or to docs/screenshots/
 * with UPDATE_SCREENSHOTS=1 (how the committed ones were made).
 */
/// <reference lib="dom" />
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, missingBrowser } from '../support/browser.ts';
import { suiteName } from '../support/infra.ts';
import { startPlatformProcess, type PlatformProcess } from '../support/platform-process.ts';
import { until } from '../support/wait.ts';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SITE = 'dash.test';
const KEY = 'dashboard-test-read-key-0123456789';
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
/** The seeded traffic: 5 page views of /pricing from Google on Chrome, 4 of /docs from GitHub on Firefox, 3 of / direct on an iPhone. */
const SEED = [
  ...Array.from({ length: 5 }, (_, i) => ({ pageId: '/pricing', visitorId: `p${i}`, referrer: 'https://www.google.com/', userAgent: CHROME })),
  ...Array.from({ length: 4 }, (_, i) => ({ pageId: '/docs', visitorId: `d${i}`, referrer: 'https://github.com/', userAgent: FIREFOX })),
  ...Array.from({ length: 3 }, (_, i) => ({ pageId: '/', visitorId: `h${i}`, userAgent: IPHONE })),
];
const SCREENSHOTS = process.env['UPDATE_SCREENSHOTS'] === '1' ? path.join(ROOT, 'docs', 'screenshots') : path.join(os.tmpdir(), 'pv-dashboard-screenshots');

let eventSeq = 0;
async function postEvents(base: string, events: readonly Record<string, string>[]): Promise<void> {
  const body = events.map((e) => ({ eventId: crypto.randomUUID(), site: SITE, timestamp: new Date(Date.now() - 60_000 + eventSeq++).toISOString(), ...e }));
  const res = await fetch(`${base}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status, await res.text()).toBe(202);
}

async function getJson<T = Record<string, unknown>>(base: string, pathAndQuery: string, key?: string): Promise<T> {
  const res = await fetch(`${base}${pathAndQuery}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
  const body = (await res.json()) as T;
  expect(res.status, `${pathAndQuery}: ${JSON.stringify(body)}`).toBe(200);
  return body;
}

/** The page has rendered the answers of its last load (not only started it). */
async function loaded(page: Page, after = '0'): Promise<void> {
  await page.waitForFunction((prev) => document.body.dataset['loading'] === 'false' && (document.body.dataset['loaded'] ?? '0') > prev, after, { timeout: 15_000 });
}

async function statValue(page: Page, metric: string): Promise<number | null> {
  const v = await page.locator(`.stat-value[data-metric="${metric}"]`).getAttribute('data-value');
  return v === null ? null : Number(v);
}

/** The rows of a breakdown panel as [value, visitors, page views]. */
async function panelRows(page: Page, property: string): Promise<[string, number, number][]> {
  return page.locator(`section[data-property="${property}"] tbody tr`).evaluateAll((rows) =>
    rows.map((tr) => {
      const cells = tr.querySelectorAll('td');
      return [tr.querySelector('button')?.dataset['value'] ?? '', Number(cells[0]?.dataset['value']), Number(cells[1]?.dataset['value'])] as [string, number, number];
    }),
  );
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

const skip = missingBrowser();

describe.skipIf(skip !== undefined)(suiteName('the dashboard in Chromium, against npm start on the embedded default', skip), () => {
  let server: PlatformProcess;
  let browser: Browser;
  let dataDir: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'pv-dashboard-'));
    [server, browser] = await Promise.all([startPlatformProcess({ name: 'npm start', env: { DATA_DIR: dataDir }, readyTimeoutMs: 120_000 }), launchChromium()]);
    await postEvents(server.base, SEED);
    // Page views are counted at the next speed flush, the pages' visitor sketches at the next
    // sketch write (SPEED_SKETCH_INTERVAL_MS, 5 s): wait for both, so the numbers stand still.
    await until(
      'the seeded page views and the pages\' visitors are counted',
      async () => {
        const pages = await getJson<{ results: { page: string; visitors: number; pageviews: number }[] }>(
          server.base,
          `/api/v1/stats/breakdown?site_id=${SITE}&period=day&property=event:page&metrics=visitors,pageviews`,
        );
        const counted = new Map(pages.results.map((r) => [r.page, [r.visitors, r.pageviews]]));
        return JSON.stringify([...counted].sort()) === JSON.stringify([['/', [3, 3]], ['/docs', [4, 4]], ['/pricing', [5, 5]]]);
      },
      30_000,
      100,
    );
  }, 180_000);

  // A failed test shows what the server printed last (its warnings say why an answer failed).
  afterEach((context) => {
    if (context.task.result?.state === 'fail') console.log(`npm start, last lines:\n${server?.tail() ?? '(not started)'}`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  async function open(url: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${url}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${url}: ${e.message}`));
    await page.goto(url);
    await loaded(page);
    return page;
  }

  it('opens at / on the generator site with history: exact and provisional buckets and the boundary at once, without console errors', async () => {
    const boundary = await getJson<{ exactThrough: string | null }>(server.base, '/api/v1/boundary');
    expect(boundary.exactThrough, 'the first-run batch publishes a boundary at start').not.toBeNull();
    // `/` opens on the first site the API lists (by name: the test's own site comes first).
    const sites = await getJson<{ sites: { site: string }[] }>(server.base, '/api/v1/sites');
    expect(sites.sites.map((s) => s.site)).toEqual([SITE, 'default']);
    const root = await open(`${server.base}/`);
    expect(new URL(root.url()).pathname).toBe(`/${SITE}`);
    await root.close();
    const page = await open(`${server.base}/default`);
    const chart = page.locator('#chart');
    expect(Number(await chart.getAttribute('data-exact-points'))).toBeGreaterThan(0);
    expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThan(Number(await chart.getAttribute('data-exact-points')));
    await expect.poll(() => page.locator('.boundary').getAttribute('data-at', { timeout: 1000 }).catch(() => null)).toBe(boundary.exactThrough);
    // The speed vs batch view lists the first-run batch.
    await expect.poll(() => page.locator('#runs table tbody tr').count()).toBeGreaterThan(0);
    // What a first load costs: every byte the browser received, and when the numbers were painted.
    const cost = await page.evaluate(() => {
      const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')] as PerformanceResourceTiming[];
      const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null;
      const assets = entries.filter((e) => !e.name.includes('/api/'));
      return { transfer: entries.reduce((s, e) => s + e.transferSize, 0), assets: assets.reduce((s, e) => s + e.transferSize, 0), fcp };
    });
    console.log(`dashboard first load: ${(cost.assets / 1024).toFixed(1)} KB of page, script, style and chart library; ${(cost.transfer / 1024).toFixed(1)} KB with the API answers; first contentful paint ${cost.fcp?.toFixed(0)} ms`);
    expect(cost.assets).toBeLessThan(150 * 1024);
    await screenshot(page, 'dashboard');
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('shows top stats equal to the API answers for the same query, with the change against the previous period', async () => {
    const page = await open(`${server.base}/${SITE}?period=7d`);
    const api = await getJson<{ results: Record<string, { value: number; change?: number }> }>(
      server.base,
      `/api/v1/stats/aggregate?site_id=${SITE}&period=7d&metrics=visitors,pageviews,visits,bounce_rate,visit_duration&compare=previous_period`,
    );
    for (const metric of ['visitors', 'pageviews', 'visits', 'bounce_rate', 'visit_duration']) {
      expect(await statValue(page, metric), metric).toBe(api.results[metric]!.value);
    }
    expect(api.results['pageviews']!.value).toBe(SEED.length);
    expect(await page.locator('.stat-change').count()).toBeGreaterThanOrEqual(5);
    const series = await getJson<{ results: { visitors: number }[] }>(server.base, `/api/v1/stats/timeseries?site_id=${SITE}&period=7d&interval=date&metrics=visitors,pageviews`);
    expect(Number(await page.locator('#chart').getAttribute('data-total'))).toBe(series.results.reduce((s, r) => s + r.visitors, 0));
    // Each panel lists what the API's breakdown lists.
    const pages = await getJson<{ results: { page: string; visitors: number; pageviews: number }[] }>(server.base, `/api/v1/stats/breakdown?site_id=${SITE}&period=7d&property=event:page&metrics=visitors,pageviews&limit=10`);
    expect(await panelRows(page, 'event:page')).toEqual(pages.results.map((r) => [r.page, r.visitors, r.pageviews]));
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('places the boundary marker at the API exactThrough, where the x scale puts it', async () => {
    const page = await open(`${server.base}/${SITE}?period=day`);
    const series = await getJson<{ exactThrough: string; results: { date: string; exact: boolean }[] }>(server.base, `/api/v1/stats/timeseries?site_id=${SITE}&period=day&interval=hour&metrics=visitors`);
    const marker = page.locator('.boundary');
    await expect.poll(() => marker.getAttribute('data-at', { timeout: 1000 }).catch(() => null)).toBe(series.exactThrough);
    const seconds = (d: string): number => Date.parse(`${d.replace(' ', 'T')}Z`);
    const first = seconds(series.results[0]!.date);
    const last = seconds(series.results.at(-1)!.date);
    const expected = (Date.parse(series.exactThrough) - first) / (last - first);
    const actual = await marker.evaluate(
      (m) => (m as HTMLElement).offsetLeft / (m.parentElement as HTMLElement).clientWidth,
      undefined,
      { timeout: 5000 },
    );
    expect(Math.abs(actual - Math.min(1, Math.max(0, expected)))).toBeLessThan(0.01);
    // Buckets before it are exact, after it provisional, as the API labels them.
    expect(Number(await page.locator('#chart').getAttribute('data-exact-points'))).toBe(series.results.filter((r) => r.exact).length);
    await page.close();
  });

  it('filters the chart and every other panel when a page of the breakdown is clicked', async () => {
    const page = await open(`${server.base}/${SITE}?period=7d`);
    const unfiltered = { 'visit:source': await panelRows(page, 'visit:source'), 'visit:browser': await panelRows(page, 'visit:browser') };
    const before = (await page.getAttribute('body', 'data-loaded')) ?? '0';
    await page.locator('section[data-property="event:page"] button.value[data-value="/pricing"]').click();
    await loaded(page, before);
    expect(new URL(page.url()).searchParams.get('filters')).toBe('event:page==/pricing');
    await page.getByRole('button', { name: /Remove filter: Page is \/pricing/ }).waitFor({ state: 'visible', timeout: 5000 });
    const filter = 'filters=event%3Apage%3D%3D%2Fpricing';
    const api = await getJson<{ results: Record<string, { value: number }> }>(server.base, `/api/v1/stats/aggregate?site_id=${SITE}&period=7d&metrics=visitors,pageviews&compare=previous_period&${filter}`);
    expect(await statValue(page, 'pageviews')).toBe(5);
    expect(await statValue(page, 'pageviews')).toBe(api.results['pageviews']!.value);
    expect(await statValue(page, 'visitors')).toBe(api.results['visitors']!.value);
    const series = await getJson<{ results: { visitors: number }[] }>(server.base, `/api/v1/stats/timeseries?site_id=${SITE}&period=7d&interval=date&metrics=visitors,pageviews&${filter}`);
    expect(Number(await page.locator('#chart').getAttribute('data-total'))).toBe(series.results.reduce((s, r) => s + r.visitors, 0));
    expect((await panelRows(page, 'event:page')).map((r) => r[0])).toEqual(['/pricing']);
    // The other panels show the API's answer for the filter (after the boundary, a filter across
    // properties is a bounded estimate: the true count, 5 from Google on Chrome, lies in its range).
    for (const [property, key, truth] of [
      ['visit:source', 'source', 'Google'],
      ['visit:browser', 'browser', 'Chrome'],
    ] as const) {
      const breakdown = await getJson<{ results: (Record<string, string | number> & { bounds?: { pageviews?: { lower: number; upper: number } } })[] }>(
        server.base,
        `/api/v1/stats/breakdown?site_id=${SITE}&period=7d&property=${property}&metrics=visitors,pageviews&limit=10&${filter}`,
      );
      const rows = await panelRows(page, property);
      expect(rows).toEqual(breakdown.results.map((r) => [String(r[key]), r['visitors'], r['pageviews']]));
      expect(rows).not.toEqual(unfiltered[property]);
      const row = breakdown.results.find((r) => r[key] === truth)!;
      const bound = row.bounds?.pageviews ?? { lower: Number(row['pageviews']), upper: Number(row['pageviews']) };
      expect(bound.lower).toBeLessThanOrEqual(5);
      expect(bound.upper).toBeGreaterThanOrEqual(5);
    }
    await screenshot(page, 'dashboard-filtered');
    // Removing the filter brings every page back.
    const filtered = (await page.getAttribute('body', 'data-loaded')) ?? '0';
    await page.getByRole('button', { name: /Remove filter/ }).click();
    await loaded(page, filtered);
    expect(await statValue(page, 'pageviews')).toBe(SEED.length);
    await page.close();
    expect(consoleErrors).toEqual([]);
  });

  it('shows a new event in the realtime counter within 2 s, pushed (no request of the page in between)', async () => {
    const page = await open(`${server.base}/${SITE}?period=day`);
    const counter = page.locator('#rt-pageviews');
    // The stream's first message, sent on connect.
    // The status line rides along, so a failure shows what the page said (paused, and why).
    await expect
      .poll(async () => `${(await counter.getAttribute('data-value')) ?? ''} (status: ${await page.locator('#rt-status').textContent()})`, { timeout: 10_000 })
      .toMatch(/^\d+ /);
    const before = Number(await counter.getAttribute('data-value'));
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const posted = Date.now();
    await postEvents(server.base, [{ pageId: '/pricing', visitorId: 'rt1', userAgent: CHROME }]);
    await page.waitForFunction((n) => Number(document.getElementById('rt-pageviews')?.dataset['value']) >= n, before + 1, { timeout: 2000, polling: 20 });
    const ms = Date.now() - posted;
    console.log(`realtime counter: new event shown ${ms} ms after POST /api/v1/events answered`);
    expect(ms).toBeLessThanOrEqual(2000);
    expect(requests.filter((u) => u.includes('/api/v1/realtime/visitors') || u.includes('/api/v1/stats/realtime'))).toEqual([]);
    await page.close();
  });

  it('is usable from the keyboard, with labelled controls and no accessibility violation', async () => {
    // bypassCSP: the checker is injected as a script, which the page's own policy refuses.
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${server.base}/${SITE}?period=7d`);
    await loaded(page);
    // Tab from the top: the skip link, the pickers, the stat cards, then the panels' values.
    const reached: string[] = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      reached.push(await page.evaluate(() => {
        const a = document.activeElement as HTMLElement | null;
        return a === null ? '' : `${a.tagName.toLowerCase()}${a.id ? `#${a.id}` : ''}${a.className ? `.${a.className.split(' ')[0]}` : ''}`;
      }));
    }
    expect(reached.slice(0, 3)).toEqual(['a.skip', 'select#site', 'select#period']);
    expect(reached).toContain('button.stat');
    expect(reached).toContain('button.value');
    // Enter on a panel's value applies it as a filter.
    while (!(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset['value'] === '/docs'))) {
      await page.keyboard.press('Tab');
      reached.push('…');
      if (reached.length > 60) throw new Error('/docs was not reachable with Tab');
    }
    const before = (await page.getAttribute('body', 'data-loaded')) ?? '0';
    await page.keyboard.press('Enter');
    await loaded(page, before);
    expect(new URL(page.url()).searchParams.get('filters')).toBe('event:page==/docs');
    // Every control has a name the accessibility tree gives it.
    for (const name of ['Site', 'Period']) expect(await page.getByLabel(name, { exact: true }).isVisible(), name).toBe(true);
    await page.addScriptTag({ path: require.resolve('accessibility-checker-engine/ace.js') });
    const violations = await page.evaluate(async () => {
      const ace = (globalThis as unknown as { ace: { Checker: new () => { check(d: Document, r: string[]): Promise<{ results: { ruleId: string; value: [string, string]; message: string; path: { dom: string } }[] }> } } }).ace;
      const report = await new ace.Checker().check(document, ['IBM_Accessibility']);
      return report.results.filter((r) => r.value[0] === 'VIOLATION' && r.value[1] === 'FAIL').map((r) => `${r.ruleId} at ${r.path.dom}: ${r.message}`);
    });
    expect(violations).toEqual([]);
    await context.close();
  });

  it('says the view store is unreachable when the API answers 503 and /api/v1/ready says so', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // The server stays up; what the browser receives is what it would from a server whose store is down.
    await page.route('**/api/v1/stats/**', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'the view store is unavailable; retry' }) }));
    await page.route('**/api/v1/ready', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ ready: false, degraded: true, log: 'up', store: 'down', views: 'behind' }) }));
    await page.goto(`${server.base}/${SITE}`);
    await expect.poll(() => page.locator('#state').textContent()).toContain('The view store is unreachable');
    expect(await page.locator('#state').getAttribute('data-state')).toBe('error');
    await screenshot(page, 'dashboard-store-down');
    await page.close();
  });
});

describe.skipIf(skip !== undefined)(suiteName('the dashboard with READ_API_KEYS and the generator off', skip), () => {
  let server: PlatformProcess;
  let browser: Browser;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'pv-dashboard-keys-'));
    [server, browser] = await Promise.all([startPlatformProcess({ name: 'npm start with keys', env: { DATA_DIR: dataDir, GENERATOR: 'off', READ_API_KEYS: KEY }, readyTimeoutMs: 120_000 }), launchChromium()]);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it('asks for a key, refuses a wrong one, opens with the right one, then shows the empty state with the script tag', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.base}/`);
    const form = page.locator('#key-form');
    await form.waitFor({ state: 'visible', timeout: 10_000 });
    await screenshot(page, 'dashboard-key');
    await page.getByLabel('Read key', { exact: true }).fill('not-the-key-but-long-enough');
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    await expect.poll(() => page.locator('#key-reason').textContent()).toContain('not one of READ_API_KEYS');
    await page.getByLabel('Read key', { exact: true }).fill(KEY);
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
    await expect.poll(() => page.locator('#state').textContent(), { timeout: 10_000 }).toContain('No events yet: add this script tag');
    expect(await page.locator('#state code').textContent()).toContain(`src="${server.base}/js/script.js"`);
    expect(await form.isHidden()).toBe(true);
    await screenshot(page, 'dashboard-empty');
    await page.close();
  });

  it('opens directly from a shared link with ?auth=', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.base}/default?auth=${KEY}`);
    await loaded(page);
    expect(await page.locator('#key-form').isHidden()).toBe(true);
    expect(await page.locator('#state').textContent()).toContain('No events yet');
    expect(new URL(page.url()).searchParams.get('auth')).toBe(KEY);
    await page.close();
  });
});
