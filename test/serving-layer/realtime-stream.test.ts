/**
 * GET /api/v1/realtime/stream and GET /api/v1/sites over HTTP on the embedded backends, with a
 * speed layer in the process: an event POSTed to the collector reaches an open stream by push
 * (the views' hand-off, as `npm start` wires it; and the refresh timer of views refreshed per
 * read), the stream takes the read keys, validates its query and outlives the request deadline.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { createPlatformApp, type PlatformAppDeps } from '../../cli/platform-app.ts';
import { ServingViews } from '../../serving-layer/index.ts';
import type { RealtimeMessage } from '../../serving-layer/realtime-feed.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';

const READ_KEY = 'stream-read-key-0123456789';
const DEADLINE_MS = 200;
const DAY = 86_400_000;

let backends: TestBackends;
let speed: SpeedLayer;
let views: ServingViews;
const servers: Server[] = [];
/** The app as `npm start` serves it: views refreshed on their own and handed each speed flush; a read key; a short deadline. */
let base: string;
/** An app with views refreshed per read (no `views` given), at most one stream. */
let perReadBase: string;

async function listen(deps: Partial<PlatformAppDeps>): Promise<string> {
  const app = createPlatformApp({ log: backends.log, controlLog: backends.log, adminApiKey: null, store: backends.store, metrics: new PlatformMetrics(), logger: silentLogger, ...deps });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  backends = await embeddedBackends();
  await backends.log.ensureTopic();
  await backends.store.migrate();
  // An event of yesterday, counted by a batch run: its site is on the batch side.
  await postEventTo(await listen({}), 'batch-only.example', Date.now() - DAY);
  await runBatch(backends.log, backends.store, silentLogger, { cutoffTime: Math.floor(Date.now() / DAY) * DAY });
  // The speed layer at its defaults (SPEED_FLUSH_INTERVAL_MS, SPEED_FLUSH_IDLE_INTERVAL_MS).
  speed = new SpeedLayer(backends.log, backends.store, silentLogger, new PlatformMetrics(), { groupId: 'speed' });
  views = new ServingViews(backends.store, { refreshIntervalMs: 60_000, maxStalenessMs: 3_600_000, memoryBudgetBytes: 64 << 20, cacheBudgetBytes: 16 << 20, logger: silentLogger });
  speed.onCheckpointed((flush) => views.handOff(flush));
  await speed.start();
  await views.start();
  base = await listen({ views, readApiKeys: [READ_KEY], requestTimeoutMs: DEADLINE_MS });
  perReadBase = await listen({ realtime: { maxStreams: 1 } });
}, 60_000);

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  views?.stop();
  await speed?.stop();
  await backends?.cleanup();
});

const auth = { authorization: `Bearer ${READ_KEY}` };

async function postEventTo(at: string, site: string, timestamp = Date.now()): Promise<void> {
  const res = await fetch(`${at}/api/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ eventId: randomUUID(), pageId: '/live', visitorId: `v-${randomUUID()}`, timestamp, site }),
  });
  expect(res.status).toBe(202);
}

/** An open stream, read as the dashboard reads it: fetch with a Bearer header and a reader of the body. */
interface Stream {
  response: Response;
  /** The next `event: realtime` message for which `accept` holds (messages before it are skipped), within `timeoutMs`. */
  next(accept?: (m: RealtimeMessage) => boolean, timeoutMs?: number): Promise<RealtimeMessage>;
  /** Comments seen so far (keep-alives). */
  comments: string[];
  close(): void;
}

async function openStream(url: string, headers: Record<string, string> = auth): Promise<Stream> {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  const queue: RealtimeMessage[] = [];
  const comments: string[] = [];
  const waiting: { wake: (() => void) | null } = { wake: null };
  let buffer = '';
  if (response.ok && response.body !== null) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const lines = block.split('\n');
            if (lines.every((l) => l.startsWith(':'))) comments.push(...lines);
            else if (lines[0] === 'event: realtime') queue.push(JSON.parse(lines.slice(1).map((l) => l.replace(/^data: /, '')).join('\n')) as RealtimeMessage);
            waiting.wake?.();
          }
        }
      } catch {
        // aborted
      }
    })();
  }
  return {
    response,
    comments,
    async next(accept = () => true, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = queue.shift();
        if (found !== undefined) {
          if (accept(found)) return found;
          continue;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no matching message in time');
        await new Promise<void>((resolve) => {
          waiting.wake = resolve;
          setTimeout(resolve, left);
        });
      }
    },
    close: () => abort.abort(),
  };
}

describe('GET /api/v1/realtime/stream', () => {
  it('needs a read key when READ_API_KEYS is set: 401 without, 403 with a wrong one', async () => {
    const without = await fetch(`${base}/api/v1/realtime/stream`);
    expect(without.status).toBe(401);
    expect(await without.json()).toMatchObject({ error: { code: 'PV_UNAUTHORIZED' } });
    const wrong = await fetch(`${base}/api/v1/realtime/stream`, { headers: { authorization: 'Bearer not-the-key-0123456789' } });
    expect(wrong.status).toBe(403);
  });

  it.each([
    ['?foo=1', /unknown parameter 'foo': this endpoint takes site, site_id/],
    ['?site=a%20b', /parameter 'site' must be a site id/],
    ['?site=a.example&site_id=b.example', /parameters 'site' and 'site_id' name different sites/],
  ])('validates its query: %s is a 400 naming the parameter', async (query, message) => {
    const res = await fetch(`${base}/api/v1/realtime/stream${query}`, { headers: auth });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('PV_QUERY_INVALID');
    expect(body.error.message).toMatch(message);
  });

  it('sends the numbers at once, then pushes them when an event POSTed to the collector is counted', async () => {
    const site = 'push.example';
    const stream = await openStream(`${base}/api/v1/realtime/stream?site=${site}`);
    try {
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(stream.response.headers.get('x-accel-buffering')).toBe('no');
      expect(stream.response.headers.get('cache-control')).toBe('no-cache, no-transform');
      const first = await stream.next();
      expect(first).toMatchObject({ site, windowMs: 300_000, visitors: { value: 0, exact: false }, pageviews: { value: 0 } });
      expect(typeof first.version).toBe('string');
      const latencies: number[] = [];
      for (let i = 1; i <= 3; i++) {
        const posted = Date.now();
        await postEventTo(base, site);
        const pushed = await stream.next((m) => m.pageviews.value >= i);
        latencies.push(Date.now() - posted);
        expect(pushed.pageviews).toMatchObject({ value: i, exact: false });
        expect(pushed.visitors.value).toBe(i);
        expect(pushed.version).not.toBe(first.version);
      }
      console.log(`realtime stream: POST to pushed message, ms: ${latencies.join(', ')}`);
      for (const ms of latencies) expect(ms).toBeLessThan(4000);
    } finally {
      stream.close();
    }
  });

  it('takes site_id for the site, as the other realtime routes', async () => {
    const stream = await openStream(`${base}/api/v1/realtime/stream?site_id=push.example`);
    try {
      expect((await stream.next()).site).toBe('push.example');
    } finally {
      stream.close();
    }
  });

  it('is not cut by the request deadline', async () => {
    const site = 'long.example';
    const stream = await openStream(`${base}/api/v1/realtime/stream?site=${site}`);
    try {
      await stream.next();
      await new Promise((r) => setTimeout(r, 3 * DEADLINE_MS));
      await postEventTo(base, site);
      expect((await stream.next((m) => m.pageviews.value === 1)).site).toBe(site);
    } finally {
      stream.close();
    }
  });

  it('with views refreshed per read: pushes as well (a refresh timer while somebody listens); one stream too many is a 503; a closed stream frees its place', async () => {
    const site = 'per-read.example';
    const stream = await openStream(`${perReadBase}/api/v1/realtime/stream?site=${site}`, {});
    try {
      expect((await stream.next()).pageviews.value).toBe(0);
      const refused = await fetch(`${perReadBase}/api/v1/realtime/stream?site=${site}`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(await refused.json()).toMatchObject({ error: { code: 'PV_TOO_MANY_STREAMS' } });
      await postEventTo(perReadBase, site);
      expect((await stream.next((m) => m.pageviews.value === 1)).visitors.value).toBe(1);
    } finally {
      stream.close();
    }
    // The server sees the close and frees the place.
    const deadline = Date.now() + 2000;
    for (;;) {
      const again = await openStream(`${perReadBase}/api/v1/realtime/stream?site=${site}`, {});
      again.close();
      if (again.response.status === 200) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

describe('GET /api/v1/sites', () => {
  it('lists the sites with page views, from the batch views and the speed views, by name', async () => {
    await postEventTo(base, 'sites-new.example');
    const deadline = Date.now() + 5000;
    let sites: string[] = [];
    while (Date.now() < deadline) {
      const res = await fetch(`${base}/api/v1/sites`, { headers: auth });
      expect(res.status).toBe(200);
      sites = ((await res.json()) as { sites: { site: string }[] }).sites.map((s) => s.site);
      if (sites.includes('sites-new.example')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sites).toContain('sites-new.example');
    expect(sites).toContain('batch-only.example');
    expect(sites).toEqual([...sites].sort());
    expect(sites.some((s) => s.includes('|'))).toBe(false); // no dimension views
  });

  it('needs a read key and takes no parameters', async () => {
    expect((await fetch(`${base}/api/v1/sites`)).status).toBe(401);
    const res = await fetch(`${base}/api/v1/sites?period=7d`, { headers: auth });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/unknown parameter 'period': this endpoint takes no parameters/);
  });
});
