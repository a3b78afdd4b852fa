/**
 * Published Plausible trackers, unchanged, in a real browser: a website loads the npm
 * package's browser build from its own origin, points it at the platform (`endpoint` /
 * `apiHost`) with its domain, and its page views are counted. No request transform: what the
 * package sends is what the platform gets.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { embeddedBackends } from '../support/backends.ts';
import { countedPages, html, launchChromium, missingBrowser, moduleFile, nextEventAnswer, pageViewsIn, servePages, visitorContext, type PageServer } from '../support/browser.ts';
import { suiteName } from '../support/infra.ts';
import { servePlatform, type ServedPlatform } from '../support/platform-server.ts';
import { until } from '../support/wait.ts';

const SITE = 'shop.example';

const skip = missingBrowser();

describe.skipIf(skip !== undefined)(suiteName('published Plausible trackers in Chromium, against the platform', skip), () => {
  let browser: Browser;
  let platform: ServedPlatform;
  let origin: string;
  let website: PageServer | undefined;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  // A platform per test: each test counts its own page views from a log of its own.
  beforeEach(async () => {
    platform = await servePlatform(embeddedBackends);
    origin = new URL(platform.base).origin;
  });
  afterEach(async () => {
    await website?.close();
    website = undefined;
    await platform.close();
  });

  /** Opens the website's `/` as a laptop-sized visitor from DuckDuckGo, follows one client-side route, and returns the platform's answers to both page views. */
  async function visit(): Promise<(number | string)[]> {
    const context = await visitorContext(browser, { viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    let answered = nextEventAnswer(page, `${origin}/api/event`);
    await page.goto(`${website?.origin}/`, { referer: 'https://duckduckgo.com/' });
    const answers = [await answered];
    answered = nextEventAnswer(page, `${origin}/api/event`); // (the official package also posts engagement events)
    await page.evaluate("history.pushState({}, '', '/pricing')");
    answers.push(await answered);
    await page.close();
    await context.close();
    return answers;
  }

  /** `device`: what the platform derives from the tracker's payload (its `w`) or, without one, from the user agent. */
  async function expectCounted(device: string): Promise<void> {
    await until('2 page views in the log', async () => (await pageViewsIn(platform.log)).length >= 2);
    const views = await pageViewsIn(platform.log);
    expect(views.map((v) => v.pageId)).toEqual(['/', '/pricing']);
    for (const v of views) expect(v).toMatchObject({ site: SITE, device });
    expect(views[0]).toMatchObject({ source: 'DuckDuckGo' });
    expect(await countedPages(platform, SITE)).toEqual([
      ['/', 1],
      ['/pricing', 1],
    ]);
  }

  it("@plausible-analytics/tracker (Plausible's official package): init({domain, endpoint}) counts page views", async () => {
    website = await servePages({
      '/': html(`<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script type="module">
  import { init } from '/vendor/plausible.js';
  init({ domain: '${SITE}', endpoint: '${origin}/api/event', captureOnLocalhost: true });
</script></head><body>Home</body></html>`),
      '/vendor/plausible.js': await moduleFile('@plausible-analytics/tracker/plausible.js'),
    });
    expect(await visit()).toEqual([202, 202]);
    await expectCounted('Desktop'); // it sends no "w": the device comes from the user agent
  });

  it('plausible-tracker (the community package): Plausible({domain, apiHost}).enableAutoPageviews() counts page views', async () => {
    // Its ES module build imports './lib/tracker' and './request' without an extension, as a
    // bundler resolves them: the website serves the files, unchanged, at those URLs.
    website = await servePages({
      '/': html(`<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script type="module">
  import Plausible from '/vendor/plausible-tracker/index.js';
  Plausible({ domain: '${SITE}', apiHost: '${origin}', trackLocalhost: true }).enableAutoPageviews();
</script></head><body>Home</body></html>`),
      '/vendor/plausible-tracker/index.js': await moduleFile('plausible-tracker/build/module/index.js'),
      '/vendor/plausible-tracker/lib/tracker': await moduleFile('plausible-tracker/build/module/lib/tracker.js'),
      '/vendor/plausible-tracker/lib/request': await moduleFile('plausible-tracker/build/module/lib/request.js'),
    });
    expect(await visit()).toEqual([202, 202]);
    await expectCounted('Laptop'); // "w": 1280
  });
});
