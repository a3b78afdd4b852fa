/**
 * POST /api/event: Plausible's events API, as Plausible's trackers send it (JSON or text/plain),
 * with server-made event and visitor ids, enrichment, bot filtering, CORS and rate limiting;
 * and what the same edge does for POST /api/v1/events. Real embedded log, real DuckDB store,
 * real enrichment; only the clock is injected.
 */
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlatformApp, type PlatformAppDeps } from '../../cli/platform-app.ts';
import { EmbeddedEventLog } from '../../shared/adapters/event-log/index.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { decodePageView, type PageView } from '../../shared/core/page-view.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { readAllRecords } from '../support/read-log.ts';
import { VisitorSalts } from '../../collector/index.ts';
import { PlatformError } from '../../shared/core/errors.ts';

const NOW = Date.UTC(2026, 11, 1, 10, 30);
const CHROME_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

interface Platform {
  url: string;
  log: EmbeddedEventLog;
  metrics: PlatformMetrics;
  close: () => Promise<void>;
}

async function platform(extra: Partial<PlatformAppDeps> = {}): Promise<Platform> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-plausible-'));
  const log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
  await log.ensureTopic();
  const store = await DuckDbViewStore.open({ path: ':memory:' });
  await store.migrate();
  const metrics = new PlatformMetrics();
  const app = createPlatformApp({
    log,
    controlLog: log,
    adminApiKey: null,
    store,
    metrics,
    logger: silentLogger,
    collector: { clock: () => NOW, rateLimitPerMinute: 0 },
    ...extra,
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    metrics,
    close: async () => {
      await new Promise((r) => server.close(r));
      await log.close();
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every event in the log (read partition by partition; in append order within a partition). */
async function events(log: EmbeddedEventLog): Promise<{ event: PageView; text: string }[]> {
  return (await readAllRecords(log))
    .map((r) => {
      const decoded = decodePageView(r.value);
      if (!decoded.ok) throw new Error(JSON.stringify(decoded.errors));
      return { event: decoded.event, text: r.value.toString() };
    });
}

const pageview = (over: Record<string, unknown> = {}) => ({ n: 'pageview', u: 'https://shop.example/pricing?utm_source=newsletter&utm_campaign=winter', d: 'shop.example', r: 'https://www.google.com/', w: 1280, ...over });

/** The events appended since `before` was taken (a snapshot of `events`), in append order per visitor. */
async function appended(log: EmbeddedEventLog, before: { event: PageView }[]): Promise<{ event: PageView; text: string }[]> {
  const seen = new Set(before.map((b) => b.event.eventId));
  return (await events(log)).filter((e) => !seen.has(e.event.eventId));
}

function send(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/event`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': CHROME_MAC, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function metricValue(metrics: PlatformMetrics, name: string, labels: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('POST /api/event (Plausible events API)', () => {
  let p: Platform;
  beforeAll(async () => {
    p = await platform();
  });
  afterAll(async () => {
    await p.close();
  });

  it('takes a page view as text/plain, as sendBeacon sends it, and writes an enriched v2 event with server-made ids', async () => {
    const before = await events(p.log);
    const res = await send(p.url, pageview(), { 'x-forwarded-for': '8.8.8.8' });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('ok');
    const written = await appended(p.log, before);
    expect(written).toHaveLength(1);
    const [{ event, text }] = written as [{ event: PageView; text: string }];
    expect(event).toMatchObject({
      schemaVersion: 2,
      site: 'shop.example',
      pageId: '/pricing',
      timestamp: NOW,
      referrer: 'https://www.google.com/',
      source: 'newsletter', // utm_source overrides the referrer
      utmSource: 'newsletter',
      utmCampaign: 'winter',
      device: 'Laptop',
      browser: 'Chrome',
      os: 'macOS',
    });
    expect(event.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.visitorId).toMatch(/^[0-9a-f]{32}$/);
    // Neither the address nor the user agent is stored (X-Forwarded-For is not trusted by default).
    expect(text).not.toContain('127.0.0.1');
    expect(text).not.toContain('8.8.8.8');
    expect(event.userAgent).toBeUndefined();
    expect(event.country).toBeUndefined(); // 127.0.0.1 has no country
  });

  it('takes JSON too; the same visitor keeps its id, another user agent gets another', async () => {
    const before = await events(p.log);
    for (const ua of [CHROME_MAC, CHROME_MAC, 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0']) {
      const res = await send(p.url, pageview({ r: null }), { 'content-type': 'application/json', 'user-agent': ua });
      expect(res.status).toBe(202);
    }
    const written = (await appended(p.log, before)).map((w) => w.event);
    const chrome = written.filter((e) => e.browser === 'Chrome');
    const firefox = written.filter((e) => e.browser === 'Firefox');
    expect([chrome.length, firefox.length]).toEqual([2, 1]);
    expect(chrome[0]?.visitorId).toBe(chrome[1]?.visitorId);
    expect(firefox[0]?.visitorId).not.toBe(chrome[0]?.visitorId);
    expect(firefox[0]).toMatchObject({ os: 'Linux' });
    expect(chrome[0]?.referrer).toBeUndefined();
  });

  it('keeps the fragment of hash-routed pages, decodes the path, and writes one event per domain', async () => {
    const before = await events(p.log);
    expect((await send(p.url, pageview({ u: 'https://shop.example/caf%C3%A9#/cart', h: 1, d: 'shop.example,rollup.example' }))).status).toBe(202);
    const written = (await appended(p.log, before)).map((w) => w.event);
    expect(written.map((e) => [e.site, e.pageId]).sort()).toEqual([
      ['rollup.example', '/café#/cart'],
      ['shop.example', '/café#/cart'],
    ]);
  });

  it('drops a bot\'s page view before the log and counts it in its metric', async () => {
    const before = await events(p.log);
    const dropped = await metricValue(p.metrics, 'pv_collector_dropped_total', 'reason="bot"');
    const res = await send(p.url, pageview({ u: 'https://shop.example/wp-login.php' }), { 'user-agent': GOOGLEBOT });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-plausible-dropped')).toBe('1');
    expect(await appended(p.log, before)).toEqual([]);
    expect(await metricValue(p.metrics, 'pv_collector_dropped_total', 'reason="bot"')).toBe(dropped + 1);
  });

  it('accepts engagement events without storing them, and says so', async () => {
    const before = await events(p.log);
    const res = await send(p.url, { n: 'engagement', u: 'https://shop.example/', d: 'shop.example', sd: 40, e: 1200, p: {}, v: 36 });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-plausible-dropped')).toBe('1');
    expect(await appended(p.log, before)).toEqual([]);
    expect(await metricValue(p.metrics, 'pv_collector_dropped_total', 'reason="ignored_event"')).toBeGreaterThanOrEqual(1);
  });

  it.each([
    ['a custom event', { n: 'Signup' }, 'n', 'event "Signup" is not supported yet'],
    ['custom properties', { p: { plan: 'pro' } }, 'p', 'custom properties are not supported yet'],
    ['revenue', { $: { amount: 1, currency: 'EUR' } }, '$', 'revenue is not supported yet'],
    ['an unknown field', { x: 1 }, 'x', "is not a field of Plausible's events API"],
    ['a relative URL', { u: '/pricing' }, 'u', 'must be an absolute http(s) URL'],
    ['no domain', { d: ' , ' }, 'd', 'must name a domain'],
    ['a domain with a space', { d: 'shop example' }, 'd.0', 'each domain must contain only'],
    ['a width that is text', { w: '1280' }, 'w', ''],
  ])('refuses %s with a 400 that names it, writing nothing', async (_name, over, field, message) => {
    const before = await events(p.log);
    const res = await send(p.url, pageview(over));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; details: { field: string; message: string }[] } };
    expect(body.error.code).toBe('PV_EVENT_INVALID');
    expect(body.error.details.some((d) => d.field === field && d.message.includes(message))).toBe(true);
    expect(await appended(p.log, before)).toEqual([]);
  });

  it('drops a request without a user agent as a bot (browsers always send one)', async () => {
    const before = await events(p.log);
    const res = await fetch(`${p.url}/api/event`, { method: 'POST', headers: { 'content-type': 'text/plain', 'user-agent': '' }, body: JSON.stringify(pageview()) });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-plausible-dropped')).toBe('1');
    expect(await appended(p.log, before)).toEqual([]);
  });

  it('refuses a body that is not JSON', async () => {
    const res = await send(p.url, '{"n":');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/);
  });

  it.each(['/api/event', '/api/v1/events'])('answers the CORS preflight of %s and allows the origin on the answer', async (route) => {
    const preflight = await fetch(`${p.url}${route}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://shop.example');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('content-type');
    const res = await send(p.url, pageview(), { origin: 'https://shop.example' });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://shop.example');
  });
});

describe('the ingestion edge: origins, rate limit, client address, server events', () => {
  it('takes a listed site\'s browser events only from its origins', async () => {
    const p = await platform({ collector: { clock: () => NOW, rateLimitPerMinute: 0, allowedOrigins: new Map([['shop.example', ['https://shop.example']]]) } });
    try {
      expect((await send(p.url, pageview(), { origin: 'https://shop.example' })).status).toBe(202);
      const res = await send(p.url, pageview(), { origin: 'https://evil.example' });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain("events for site 'shop.example' are not accepted from origin https://evil.example");
      expect((await send(p.url, pageview({ d: 'other.example' }), { origin: 'https://evil.example' })).status).toBe(202);
      expect((await send(p.url, pageview())).status).toBe(202); // a server: no Origin
      expect((await events(p.log)).length).toBe(3);
    } finally {
      await p.close();
    }
  });

  it('limits requests per client address: 429 with Retry-After, nothing written, counted', async () => {
    const p = await platform({ collector: { clock: () => NOW, rateLimitPerMinute: 3, serverRateLimitPerMinute: 2 } });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await send(p.url, pageview())).status);
      expect(statuses).toEqual([202, 202, 202, 429, 429]);
      // The server endpoint has a limit of its own.
      const server: number[] = [];
      for (let i = 0; i < 3; i++) {
        const body = JSON.stringify({ eventId: randomUUID(), pageId: '/s', visitorId: 'v', timestamp: NOW });
        server.push((await fetch(`${p.url}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status);
      }
      expect(server).toEqual([202, 202, 429]);
      const res = await send(p.url, pageview());
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PV_RATE_LIMITED');
      expect((await events(p.log)).length).toBe(5);
      expect(await metricValue(p.metrics, 'pv_collector_dropped_total', 'reason="rate_limited"')).toBe(4);
    } finally {
      await p.close();
    }
  });

  it('answers 503 and writes nothing when the store cannot give the day\'s visitor-id salt', async () => {
    const down = {
      visitorSalt: async (): Promise<string> => {
        throw new PlatformError('PV_STORE_UNAVAILABLE', 'view store unreachable', { retriable: true });
      },
      dropVisitorSaltsBefore: async (): Promise<void> => undefined,
    };
    const p = await platform({ salts: new VisitorSalts(down, silentLogger, { clock: () => NOW }) });
    try {
      const res = await send(p.url, pageview());
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).not.toBeNull();
      expect(await events(p.log)).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('takes the client address from X-Forwarded-For only behind a trusted proxy', async () => {
    const trusting = await platform({ trustProxy: ['loopback'] });
    const plain = await platform();
    try {
      const ids = async (q: Platform): Promise<string[]> => {
        for (const ip of ['198.51.100.1', '198.51.100.2']) expect((await send(q.url, pageview(), { 'x-forwarded-for': ip })).status).toBe(202);
        return (await events(q.log)).map((w) => w.event.visitorId);
      };
      const [a, b] = await ids(trusting);
      expect(a).not.toBe(b); // two clients behind the proxy
      // The forwarded address gives the country (8.8.8.8 is in the US in the bundled data); it is not stored.
      expect((await send(trusting.url, pageview(), { 'x-forwarded-for': '8.8.8.8' })).status).toBe(202);
      const withCountry = (await events(trusting.log)).filter((w) => w.event.country !== undefined);
      expect(withCountry.map((w) => w.event.country)).toEqual(['US']);
      expect(withCountry[0]?.text).not.toContain('8.8.8.8');
      const [c, d] = await ids(plain);
      expect(c).toBe(d); // the header is not trusted: one client, the proxy
    } finally {
      await trusting.close();
      await plain.close();
    }
  });

  it('POST /api/v1/events drops events whose userAgent is a bot, enriches the others, and says how many it dropped', async () => {
    const p = await platform();
    try {
      const base = { pageId: '/a', visitorId: 'v', timestamp: NOW };
      const res = await fetch(`${p.url}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([
          { ...base, eventId: randomUUID(), userAgent: GOOGLEBOT },
          { ...base, eventId: randomUUID(), userAgent: CHROME_MAC, referrer: 'https://news.ycombinator.com/item?id=1' },
          { ...base, eventId: randomUUID(), schemaVersion: 1 },
        ]),
      });
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: 2, dropped: 1 });
      const written = (await events(p.log)).map((w) => w.event);
      expect(written).toHaveLength(2);
      expect(written[0]).toMatchObject({ schemaVersion: 2, browser: 'Chrome', os: 'macOS', device: 'Desktop', source: 'Hacker News', userAgent: CHROME_MAC });
      expect(written[0]?.country).toBeUndefined();
      expect(written[1]).toMatchObject({ schemaVersion: 2, visitorId: 'v' });
      expect(await metricValue(p.metrics, 'pv_collector_dropped_total', 'reason="bot"')).toBe(1);
    } finally {
      await p.close();
    }
  });
});
