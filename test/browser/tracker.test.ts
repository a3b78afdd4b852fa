/**
 * The tracker script in a real browser (Debian's chromium, headless), against the whole
 * platform app on the embedded backends: a website on its own 127.0.0.1 port (so the script and
 * its endpoint are cross-origin, as on a real site) adds the script tag, the visitor arrives
 * from Google and follows three client-side routes, then closes the tab. The platform must then
 * hold 4 page views with the right paths, site, device and source, and count them in its stats.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedBackends } from '../support/backends.ts';
import { countedPages, html, launchChromium, missingBrowser, nextEventAnswer, pageViewsIn, servePages, visitorContext, type PageServer } from '../support/browser.ts';
import { suiteName } from '../support/infra.ts';
import { servePlatform, type ServedPlatform } from '../support/platform-server.ts';
import { until } from '../support/wait.ts';

const SITE = 'shop.example';

/** A single-page shop: its links change the route with history.pushState, no page load. */
function shopPage(platformOrigin: string, attributes: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title>
<script defer ${attributes} src="${platformOrigin}/js/script.js"></script>
</head><body>
<nav><a href="/products">Products</a> <a href="/products/42">Product 42</a> <a href="/checkout">Checkout</a></nav>
<main id="view">Home</main>
<script>
document.addEventListener('click', function (e) {
  var a = e.target.closest('a');
  if (!a) return;
  e.preventDefault();
  history.pushState({}, '', a.getAttribute('href'));
  document.getElementById('view').textContent = a.textContent;
});
</script>
</body></html>`;
}

const skip = missingBrowser();

describe.skipIf(skip !== undefined)(suiteName('the tracker script in Chromium, against the platform', skip), () => {
  let platform: ServedPlatform;
  let origin: string;
  let browser: Browser;
  let website: PageServer;

  beforeAll(async () => {
    platform = await servePlatform(embeddedBackends);
    origin = new URL(platform.base).origin;
    browser = await launchChromium();
    website = await servePages(
      {
        '/': html(shopPage(origin, `data-domain="${SITE}" data-allow-localhost data-allow-automation`)),
        '/no-automation': html(shopPage(origin, `data-domain="${SITE}" data-allow-localhost`)),
      },
      '/',
    );
  });
  afterAll(async () => {
    await browser?.close();
    await website?.close();
    await platform?.close();
  });

  it('counts the load and three client-side routes: 4 page views with their paths, site, device and source', async () => {
    const context = await visitorContext(browser, { viewport: { width: 1280, height: 800 } }); // 1280 px wide: a laptop
    const page = await context.newPage();
    const endpoint = `${origin}/api/event`;
    let answered = nextEventAnswer(page, endpoint);
    await page.goto(`${website.origin}/`, { referer: 'https://www.google.com/' });
    const answers = [await answered];
    for (const link of ['Products', 'Product 42', 'Checkout']) {
      answered = nextEventAnswer(page, endpoint);
      await page.getByRole('link', { name: link, exact: true }).click();
      answers.push(await answered);
    }
    expect(await page.evaluate('location.pathname')).toBe('/checkout');
    await page.close();
    await context.close();
    expect(answers).toEqual([202, 202, 202, 202]);

    const { log } = platform;
    await until('4 page views in the log', async () => (await pageViewsIn(log)).length >= 4);
    const views = await pageViewsIn(log);
    expect(views.map((v) => v.pageId)).toEqual(['/', '/products', '/products/42', '/checkout']);
    for (const v of views) {
      expect(v).toMatchObject({ schemaVersion: 2, site: SITE, device: 'Laptop', browser: 'Chrome', os: 'Linux' });
    }
    expect(views[0]).toMatchObject({ source: 'Google', referrer: 'https://www.google.com/' });
    expect(new Set(views.map((v) => v.eventId)).size).toBe(4);
    expect(new Set(views.map((v) => v.visitorId)).size).toBe(1); // one visitor, no cookie

    // Through the layers: the speed layer counts them, and the stats API answers with them.
    expect(await countedPages(platform, SITE)).toEqual([
      ['/', 1],
      ['/checkout', 1],
      ['/products', 1],
      ['/products/42', 1],
    ]);
  });

  it('without data-allow-automation, sends nothing from an automated browser and says so in the console', async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${origin}/api/`)) requests.push(r.url());
    });
    const warned = page.waitForEvent('console', (m) => m.type() === 'warning' && m.text() === 'Ignoring event (automated browser): pageview');
    await page.goto(`${website.origin}/no-automation`);
    await warned;
    expect(await page.evaluate('navigator.webdriver')).toBe(true);
    expect(await page.evaluate('typeof window.plausible')).toBe('function'); // the script ran
    await page.close();
    expect(requests).toEqual([]);
  });
});
