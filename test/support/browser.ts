/**
 * The real browser of test/browser/: Debian's chromium (installed by scripts/browser.sh),
 * driven by playwright-core, which never downloads a browser (its path and flags are in
 * scripts/chromium.ts, shared with the dashboard benchmark). Without chromium the suites are
 * skipped loudly (the reason is in the suite's name, for the skip reporter), unless
 * REQUIRE_BROWSER=1 (.ci/run sets it), when the missing browser fails them.
 *
 * Also the "website" the browser visits: a static server on its own 127.0.0.1 port, so the
 * platform's script and endpoint are cross-origin to the page, as on a real site; and what the
 * tests read back from the platform: the page views in its log, and its stats.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { decodePageView, type PageView } from '../../shared/core/page-view.ts';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../scripts/chromium.ts';
import { SKIP_MARK } from './infra.ts';
import type { ServedPlatform } from './platform-server.ts';
import { readAllRecords } from './read-log.ts';
import { speedCountedThrough, until } from './wait.ts';

export { CHROMIUM_ARGS, CHROMIUM_PATH };

const required = (): boolean => process.env['REQUIRE_BROWSER'] === '1';

/** Why a browser suite must be skipped: chromium is not installed (and REQUIRE_BROWSER=1 is not set). */
export function missingBrowser(): string | undefined {
  if (existsSync(CHROMIUM_PATH) || required()) return undefined;
  return `${SKIP_MARK} chromium at ${CHROMIUM_PATH}, not installed: run 'bash scripts/browser.sh'`;
}

/** Starts chromium; fails, naming the fix, when it is missing (only reached with REQUIRE_BROWSER=1). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`REQUIRE_BROWSER=1 but chromium is missing at ${CHROMIUM_PATH}: run 'bash scripts/browser.sh'`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
}

/**
 * A context (a fresh, cookie-less browser profile) as a visitor's. Headless Chromium's user agent
 * says "HeadlessChrome", which bot filters (isbot) rightly drop; a visitor's says "Chrome", so the
 * context gets the user agent of the same Chrome version with a screen. navigator.webdriver stays
 * true: the script's automation rule still applies (data-allow-automation).
 */
export function visitorContext(browser: Browser, options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const major = browser.version().split('.')[0] ?? '0';
  const userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`;
  return browser.newContext({ userAgent, ...options });
}

/**
 * The answer of `endpoint` to the next event named `name` that the page posts to it: its HTTP
 * status, or why there was none (e.g. "failed: net::ERR_FAILED" when CORS blocked it).
 */
export async function nextEventAnswer(page: Page, endpoint: string, name = 'pageview'): Promise<number | string> {
  const request = await page.waitForRequest((r) => r.url() === endpoint && r.method() === 'POST' && (r.postData() ?? '').includes(`"n":${JSON.stringify(name)}`));
  const response = await request.response();
  return response?.status() ?? `failed: ${request.failure()?.errorText ?? 'no response'}`;
}

export interface PageFile {
  type: string;
  body: string | Buffer;
}

export interface PageServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  close(): Promise<void>;
}

/** `text/html` (utf-8) */
export const html = (body: string): PageFile => ({ type: 'text/html; charset=utf-8', body });

/** A file of node_modules, served as JavaScript: a published tracker's browser build, unchanged. */
export async function moduleFile(specifier: string): Promise<PageFile> {
  const file = new URL(`../../node_modules/${specifier}`, import.meta.url);
  return { type: 'application/javascript; charset=utf-8', body: await readFile(file) };
}

/**
 * Serves `files` by path on 127.0.0.1 at an ephemeral port; any other path gets `fallback`
 * when given (a single-page app's index: its routes are client-side), else 404.
 */
export async function servePages(files: Record<string, PageFile>, fallback?: string): Promise<PageServer> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = files[path] ?? (fallback === undefined ? undefined : files[fallback]);
    if (req.method !== 'GET' || file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve, reject) => server.close((err) => (err === undefined ? resolve() : reject(err))));
}

/** The page views in the log, in log order within each partition (one visitor's are in one). */
export async function pageViewsIn(log: EventLog): Promise<PageView[]> {
  const records = (await readAllRecords(log)).sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  return records.map((r) => {
    const decoded = decodePageView(r.value);
    if (!decoded.ok) throw new Error(`a record in the log does not decode: ${JSON.stringify(decoded.errors)}`);
    return decoded.event;
  });
}

/**
 * Runs a speed layer over the platform's log until it has counted every record, then stops it,
 * and answers the stats API's breakdown by page for `site` (default range: the last 30 days),
 * as sorted [page, pageviews] pairs.
 */
export async function countedPages(platform: ServedPlatform, site: string): Promise<[string, number][]> {
  const { log, store } = platform;
  const speed = new SpeedLayer(log, store, silentLogger, new PlatformMetrics(), { groupId: `speed-${randomUUID()}`, flushIntervalMs: 100 });
  await speed.start();
  try {
    const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
    await until('the speed layer to count every record of the log', () => speedCountedThrough(store, end), 30_000, 50);
  } finally {
    await speed.stop();
  }
  const res = await fetch(`${platform.base}/stats/breakdown?site=${encodeURIComponent(site)}&limit=100`);
  if (res.status !== 200) throw new Error(`GET /api/v1/stats/breakdown answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { results: { page: string; pageviews: number }[] };
  return body.results.map((r): [string, number] => [r.page, r.pageviews]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
