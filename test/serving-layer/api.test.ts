/**
 * The HTTP API on the embedded backends: validation of every parameter (hostile input
 * included), the OpenAPI document against the routes, ETags and the batch-read cache, read
 * tokens, period presets, breakdown and realtime visitors.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { HyperLogLog, SpaceSaving } from '../../shared/core/sketches/index.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { ServingViews, createServingApp } from '../../serving-layer/index.ts';
import { PLATFORM_OPENAPI, createPlatformApp } from '../../cli/platform-app.ts';
import { periodRange } from '../../serving-layer/query-params.ts';
import { percentChange } from '../../serving-layer/stats-routes.ts';
import { writeCheckpointedSpeedRows } from '../support/speed-rows.ts';

const MIN = 60_000;
const READ_KEY = 'read-key-0123456789abcdef';

let dir: string;
let log: EmbeddedEventLog;
let store: DuckDbViewStore;
let app: Express;
let server: Server;
let base: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-api-'));
  log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
  await log.ensureTopic();
  store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
  await store.migrate();
  app = createPlatformApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await log.close();
  await store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const get = (p: string, headers: Record<string, string> = {}) => fetch(`${base}${p}`, { headers });

type Details = { field: string; message: string }[];
/** Plausible's routes write `{"error":"<message>","code","details"}`; the others `{"error":{code,message,details}}`. */
const PLAUSIBLE_ROUTE = /^\/api\/v1\/stats\/(aggregate|timeseries|breakdown|realtime\/visitors)\b/i;

/** The error of an answer, checked to have the shape of its route. */
async function errorOf(url: string, res: Response): Promise<{ code: string; message: string; details?: Details }> {
  const body = (await res.json()) as { error: unknown; code?: string; details?: Details };
  if (PLAUSIBLE_ROUTE.test(url)) {
    expect(typeof body.error, url).toBe('string');
    return { code: body.code ?? '', message: body.error as string, ...(body.details === undefined ? {} : { details: body.details }) };
  }
  expect(typeof body.error, url).toBe('object');
  return body.error as { code: string; message: string; details?: Details };
}

describe('validation: bad input is a 400 with a clear error, never a 500', () => {
  const huge = 'x'.repeat(5000);
  it.each([
    ['/api/v1/pages/%2Fa/views?interval=week', /'interval' must be one of minute, hour, day/],
    ['/api/v1/pages/%2Fa/views?from=yesterday', /'from' must be epoch ms or an ISO-8601/],
    ['/api/v1/pages/%2Fa/views?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', /'from' must be before 'to'/],
    ['/api/v1/pages/%2Fa/views?from=0&to=1', /between 2000-01-01 and 2100-01-01/],
    ['/api/v1/pages/%2Fa/views?interval=minute&from=2001-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', /at most 10000 are allowed/],
    ['/api/v1/pages/%2Fa/views?site=a%27%3B%20DROP%20TABLE%20raw_events%3B--', /'site' must be a site id/],
    ['/api/v1/pages/%2Fa/views?site=%60x%60', /'site' must be a site id/],
    ['/api/v1/pages/%2Fa/views?site=a&site=b', /'site' must be given once/],
    [`/api/v1/pages/${huge}/views`, /at most 2048 characters/],
    ['/api/v1/pages/%00/views', /without control characters/],
    ['/api/v1/stats/aggregate?metrics=pageviews,bounce', /is not one of pageviews, visitors/],
    ['/api/v1/stats/aggregate?period=week', /'period' must be one of day, 7d, 30d, month, 6mo, 12mo, custom/],
    ['/api/v1/stats/aggregate?period=custom', /period=custom needs date=YYYY-MM-DD,YYYY-MM-DD/],
    ['/api/v1/stats/aggregate?period=custom&date=2026-11-01', /period=custom needs date=YYYY-MM-DD,YYYY-MM-DD/],
    ['/api/v1/stats/aggregate?period=7d&date=2026-11-01,2026-11-05', /a range of days in 'date' goes with period=custom; period=7d takes one day/],
    ['/api/v1/stats/aggregate?period=custom&date=2026-11-05,2026-11-01', /the first day must not be after the last/],
    ['/api/v1/stats/aggregate?period=day&date=2026-02-30', /parameter 'date' must be a day YYYY-MM-DD/],
    ['/api/v1/stats/aggregate?period=day&date=yesterday', /parameter 'date' must be a day YYYY-MM-DD/],
    ['/api/v1/stats/aggregate?date=2026-11-01', /parameter 'date' goes with 'period'/],
    ['/api/v1/stats/aggregate?period=day&from=2026-01-01T00:00:00Z', /either 'period' or 'from'\/'to'/],
    ['/api/v1/stats/aggregate?to=2026-01-01T00:00:00Z', /'from' is required/],
    ['/api/v1/stats/breakdown?property=referrer', /parameter 'property': unknown property 'referrer'/],
    ['/api/v1/stats/breakdown?limit=0', /'limit' must be a whole number from 1 to 1000/],
    ['/api/v1/stats/breakdown?offset=-1', /'offset' must be a whole number/],
    ['/api/v1/stats/timeseries?interval=minute&period=12mo', /more than 10000 minute buckets|at most 10000/],
    ['/api/v1/batch/runs?limit=abc', /'limit' must be a whole number/],
    ['/api/v1/stats/aggregate?site_id=a.example&site=b.example', /parameters 'site' and 'site_id' name different sites \('b.example', 'a.example'\): give one/],
    ['/api/v1/stats/aggregate?site_id=a%20b', /parameter 'site_id' must be a site id/],
    ['/api/v1/stats/breakdown?page=2&offset=10', /give either 'page' or 'offset', not both/],
    ['/api/v1/stats/breakdown?page=0', /'page' must be a whole number from 1/],
    ['/api/v1/stats/aggregate?foo=1', /unknown parameter 'foo': this endpoint takes site, site_id, page, metrics, filters, period, date, from, to, with_imported, compare/],
    ['/api/v1/stats/aggregate?compare=previous_year', /parameter 'compare' must be one of previous_period/],
    ['/api/v1/stats/breakdown?filters=event:page%3D/a', /parameter 'filters': filter 'event:page=\/a' must be property==value/],
    ['/api/v1/stats/breakdown?filters=visit:city%3D%3DBerlin', /parameter 'filters': filter 'visit:city==Berlin': property 'visit:city' is not supported: cities are not recorded/],
    ['/api/v1/stats/breakdown?property=visit:nope', /parameter 'property': unknown property 'visit:nope'/],
    ['/api/v1/boundary?verbose=1', /unknown parameter 'verbose': this endpoint takes no parameters/],
    ['/api/v1/pages/%2Fa/views?period=7d', /unknown parameter 'period'/],
  ])('%s', async (url, message) => {
    const res = await get(url);
    expect(res.status).toBe(400);
    const error = await errorOf(url, res);
    expect(error.code).toBe('PV_QUERY_INVALID');
    expect(error.message).toMatch(message);
  });

  it.each([
    "/api/v1/pages/%2F'%20OR%20'1'%3D'1/views",
    '/api/v1/pages/%2F%5C%27%60%22/views',
    '/api/v1/pages/%2F%E6%97%A5%E6%9C%AC%F0%9F%98%80/views',
    "/api/v1/stats/aggregate?page=%2F'%3B%20DROP%20TABLE%20batch_runs%3B--",
  ])('hostile but valid ids are data, not SQL: %s answers 200 with zeros', async (url) => {
    const res = await get(url);
    expect(res.status).toBe(200);
    const runs = await get('/api/v1/batch/runs');
    expect(runs.status).toBe(200); // the tables are still there
  });

  it('every problem is named in the message and in per-field details', async () => {
    const url = '/api/v1/stats/breakdown?limit=0&period=week&site=a%20b';
    const res = await get(url);
    expect(res.status).toBe(400);
    const error = await errorOf(url, res);
    expect(error.code).toBe('PV_QUERY_INVALID');
    expect(error.details?.map((d) => d.field).sort()).toEqual(['limit', 'period', 'site']);
    for (const d of error.details ?? []) expect(error.message).toContain(d.message);
  });

  it('an unknown parameter is named in the details', async () => {
    const url = '/api/v1/stats/aggregate?foo=a&bar=b';
    const error = await errorOf(url, await get(url));
    expect(error.details?.map((d) => d.field)).toEqual(['foo', 'bar']);
    expect(error.message).toBe("unknown parameter 'foo', 'bar': this endpoint takes site, site_id, page, metrics, filters, period, date, from, to, with_imported, compare");
  });

  it('unknown routes are a 404 in the same error shape', async () => {
    const res = await get('/api/v2/nothing');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'PV_NOT_FOUND' } });
  });
});

describe('OpenAPI document', () => {
  /** The routes the app registers, as OpenAPI paths with methods. */
  function registeredRoutes(): Set<string> {
    const out = new Set<string>();
    type Layer = { route?: { path: string | RegExp; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
    const walk = (stack: Layer[]): void => {
      for (const layer of stack) {
        if (layer.route !== undefined) {
          if (typeof layer.route.path !== 'string') continue; // the read-route guard (a RegExp), not an endpoint
          const p = layer.route.path.replace(/:(\w+)/g, '{$1}');
          for (const [method, on] of Object.entries(layer.route.methods)) if (on) out.add(`${method} ${p}`);
        } else if (layer.handle?.stack !== undefined) walk(layer.handle.stack);
      }
    };
    walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
    return out;
  }

  it('route handlers read their query and path parameters only through their schemas', async () => {
    const dirs = ['../../serving-layer', '../../collector'];
    const offending: string[] = [];
    for (const dir of dirs) {
      const folder = new URL(`${dir}/`, import.meta.url);
      for (const file of await fs.readdir(folder)) {
        if (!file.endsWith('.ts')) continue;
        const lines = (await fs.readFile(new URL(file, folder), 'utf8')).split('\n');
        lines.forEach((line, i) => {
          if (/req\.(query|params)\b/.test(line) && !/parseInput\(/.test(line)) offending.push(`${dir}/${file}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(offending).toEqual([]);
  });

  it('documents each parameter from its schema: names, enums, defaults', () => {
    const aggregate = PLATFORM_OPENAPI.paths['/api/v1/stats/aggregate']?.['get'] as { parameters: { name: string; schema: { enum?: string[] } }[] };
    expect(aggregate.parameters.map((p) => p.name)).toEqual(['site', 'site_id', 'page', 'metrics', 'filters', 'period', 'date', 'from', 'to', 'with_imported', 'compare']);
    expect(aggregate.parameters.find((p) => p.name === 'period')?.schema.enum).toEqual(['day', '7d', '30d', 'month', '6mo', '12mo', 'custom']);
    const events = PLATFORM_OPENAPI.paths['/api/v1/events']?.['post'] as { requestBody: { required: boolean } };
    expect(events.requestBody.required).toBe(true);
  });

  it("documents the two error shapes: Plausible's routes a string, the others an object", () => {
    const PLAUSIBLE_OPENAPI_PATHS = ['/api/v1/stats/aggregate', '/api/v1/stats/timeseries', '/api/v1/stats/breakdown', '/api/v1/stats/realtime/visitors'];
    const errorOf = (path: string) => (PLAUSIBLE_OPENAPI_PATHS.includes(path) ? 'PlausibleError' : 'Error');
    for (const path of [...PLAUSIBLE_OPENAPI_PATHS, '/api/v1/realtime/visitors', '/api/v1/compare']) {
      const responses = (PLATFORM_OPENAPI.paths[path]?.['get'] as { responses: Record<string, { $ref?: string }> }).responses;
      expect(responses['400']?.$ref, path).toBe(`#/components/responses/${errorOf(path)}`);
    }
    const schemas = (PLATFORM_OPENAPI as unknown as { components: { schemas: Record<string, { properties: { error: { type: string } } }> } }).components.schemas;
    expect(schemas['PlausibleError']?.properties.error.type).toBe('string');
    expect(schemas['Error']?.properties.error.type).toBe('object');
  });

  it('lists exactly the registered routes', async () => {
    const documented = new Set(Object.entries(PLATFORM_OPENAPI.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)));
    expect([...registeredRoutes()].sort()).toEqual([...documented].sort());
    const served = (await (await get('/api/v1/openapi.json')).json()) as { openapi: string };
    expect(served.openapi).toBe('3.0.3');
  });
});

describe('caching', () => {
  it('answers carry an ETag, and a matching If-None-Match gets 304', async () => {
    const url = '/api/v1/pages/%2Fa/views?from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z';
    const first = await get(url);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^(W\/)?"[^"]+"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    // fetch() adds Cache-Control: no-cache to conditional requests, so ask with node:http.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http.get(`${base}${url}`, { headers: { 'if-none-match': etag ?? '' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).once('error', reject);
    });
    expect(status).toBe(304);
  });

  it('the batch part is read once per published version', async () => {
    await store.recordBatchRun({
      batchId: 'cache-run', status: 'success', startedAt: 1, finishedAt: Date.now(), cutoffTime: Date.UTC(2026, 9, 2),
      endOffsets: {}, rowsRead: 0, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: 0, error: null,
    });
    const spy = store as unknown as { batchViews: (...args: unknown[]) => Promise<unknown> };
    const original = spy.batchViews.bind(store);
    let calls = 0;
    spy.batchViews = (...args: unknown[]) => {
      calls += 1;
      return original(...args);
    };
    try {
      const url = '/api/v1/pages/%2Fcached/views?from=2026-10-01T00:00:00Z&to=2026-10-01T05:00:00Z';
      expect((await get(url)).status).toBe(200);
      expect(calls).toBe(2); // the page's block: its days and its hours
      for (let i = 0; i < 3; i++) expect((await get(url)).status).toBe(200);
      expect(calls).toBe(2);
    } finally {
      spy.batchViews = original;
    }
  });
});

describe('read tokens', () => {
  it('with READ_API_KEYS set, reads need one of them; health and the collector do not', async () => {
    const guarded = createServingApp({ log, controlLog: log, adminApiKey: null, readApiKeys: [READ_KEY], store, metrics: new PlatformMetrics(), logger: silentLogger });
    const s = await new Promise<Server>((resolve) => {
      const x = guarded.listen(0, '127.0.0.1', () => resolve(x));
    });
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${url}/api/v1/stats/aggregate`)).status).toBe(401);
      expect((await fetch(`${url}/api/v1/stats/aggregate`, { headers: { authorization: 'Bearer wrong-wrong-wrong-wrong' } })).status).toBe(403);
      expect((await fetch(`${url}/api/v1/stats/aggregate`, { headers: { authorization: `Bearer ${READ_KEY}` } })).status).toBe(200);
      expect((await fetch(`${url}/api/v1/boundary`)).status).toBe(401);
      // Routes match whatever the case and a trailing slash, and so does the guard.
      expect((await fetch(`${url}/API/V1/Stats/Aggregate`)).status).toBe(401);
      expect((await fetch(`${url}/api/v1/pages/%2Fa/views/`)).status).toBe(401);
      expect((await fetch(`${url}/api/v1/health`)).status).toBe(200);
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});

describe('periods, breakdown and realtime', () => {
  it.each([
    ['day', Date.UTC(2026, 10, 28), Date.UTC(2026, 10, 29)],
    ['7d', Date.UTC(2026, 10, 22), Date.UTC(2026, 10, 29)],
    ['30d', Date.UTC(2026, 9, 30), Date.UTC(2026, 10, 29)],
    ['month', Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1)],
    ['12mo', Date.UTC(2025, 11, 1), Date.UTC(2026, 11, 1)],
    ['6mo', Date.UTC(2026, 5, 1), Date.UTC(2026, 11, 1)],
  ] as const)('period %s is [%s, %s) in UTC', (period, from, to) => {
    expect(periodRange(period, Date.UTC(2026, 10, 28, 15, 30))).toEqual({ from, to });
  });

  it.each([
    ['day', Date.UTC(2024, 1, 29), Date.UTC(2024, 2, 1)],
    ['7d', Date.UTC(2024, 1, 23), Date.UTC(2024, 2, 1)],
    ['month', Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1)],
    ['6mo', Date.UTC(2023, 8, 1), Date.UTC(2024, 2, 1)],
    ['12mo', Date.UTC(2023, 2, 1), Date.UTC(2024, 2, 1)],
  ] as const)('period %s relative to date=2024-02-29 is [%s, %s)', (period, from, to) => {
    expect(periodRange(period, Date.UTC(2026, 10, 28, 15, 30), { day: Date.UTC(2024, 1, 29) })).toEqual({ from, to });
  });

  it('period=custom covers the days of date, both included, as the answer says', async () => {
    expect(periodRange('custom', 0, { first: Date.UTC(2026, 10, 1), last: Date.UTC(2026, 10, 5) })).toEqual({ from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 10, 6) });
    const res = await get('/api/v1/stats/aggregate?period=custom&date=2026-11-01,2026-11-05&metrics=pageviews');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ from: '2026-11-01T00:00:00.000Z', to: '2026-11-06T00:00:00.000Z', period: 'custom' });
    const day = await get('/api/v1/stats/aggregate?period=day&date=2026-11-03&metrics=pageviews');
    expect(await day.json()).toMatchObject({ from: '2026-11-03T00:00:00.000Z', to: '2026-11-04T00:00:00.000Z', period: 'day' });
  });

  it('breakdown merges exact page totals with the overflow top pages, sorted, paged, with bounds', async () => {
    const t = bucketStart(Date.now(), 'minute') - 10 * MIN;
    const top = new SpaceSaving<string>(10);
    top.add('/overflow-hot', 9);
    top.add('/overflow-cold', 1);
    await writeCheckpointedSpeedRows(store, {
      pageMinutes: [
        { partition: 0, site: 'shop', pageId: '/b', bucket: t, views: 7, version: 1 },
        { partition: 1, site: 'shop', pageId: '/a', bucket: t, views: 12, version: 1 },
      ],
      overflow: [{ partition: 0, site: 'shop', bucket: t, total: 10, cmsWidth: 1, cmsDepth: 1, cms: [10], topPages: JSON.stringify(top.toJSON()), version: 1 }],
      visitors: [],
    });
    const body = (await (await get(`/api/v1/stats/breakdown?site=shop&metrics=pageviews&from=${t}&to=${t + MIN}&limit=2&offset=1`)).json()) as {
      total: number;
      results: { page: string; pageviews: number; exact: boolean; bounds?: { pageviews: { overcount: number } } }[];
    };
    expect(body.total).toBe(4);
    // Plausible's rows (plain numbers under the property's key), the product's labels beside.
    expect(body.results).toEqual([
      { page: '/overflow-hot', pageviews: 9, exact: false, bounds: { pageviews: { overcount: 0 } } },
      { page: '/b', pageviews: 7, exact: false, bounds: { pageviews: { overcount: 0 } } },
    ]);
    // Plausible's names: site_id, property=event:page, and page (from 1) instead of offset.
    const plausible = (await (await get(`/api/v1/stats/breakdown?site_id=shop&property=event:page&metrics=pageviews&from=${t}&to=${t + MIN}&limit=2&page=2`)).json()) as typeof body & { offset: number };
    expect(plausible.offset).toBe(2);
    const first = (await (await get(`/api/v1/stats/breakdown?site_id=shop&from=${t}&to=${t + MIN}&limit=2&page=1`)).json()) as typeof body;
    expect([...first.results, ...plausible.results].map((r) => r.page)).toEqual(['/a', '/overflow-hot', '/b', '/overflow-cold']);
  });

  it('realtime visitors are the union of the last five minutes of site sketches', async () => {
    const now = Date.now();
    const sketch = (ids: string[]) => {
      const h = new HyperLogLog(14);
      for (const id of ids) h.addString(id);
      return h.toBase64();
    };
    await writeCheckpointedSpeedRows(store, {
      pageMinutes: [],
      overflow: [],
      visitors: [
        { partition: 0, site: 'live', pageId: '', grain: 'minute', bucket: bucketStart(now, 'minute'), hll: sketch(['a', 'b', 'c']), version: 1 },
        { partition: 1, site: 'live', pageId: '', grain: 'minute', bucket: bucketStart(now, 'minute') - MIN, hll: sketch(['c', 'd']), version: 1 },
        { partition: 0, site: 'live', pageId: '', grain: 'minute', bucket: bucketStart(now, 'minute') - 20 * MIN, hll: sketch(['old']), version: 1 },
      ],
    });
    const body = (await (await get('/api/v1/realtime/visitors?site=live')).json()) as { visitors: { value: number; exact: boolean } };
    expect(body.visitors).toMatchObject({ value: 4, exact: false });
    // Plausible's route answers the bare number.
    expect(await (await get('/api/v1/stats/realtime/visitors?site_id=live')).json()).toBe(4);
    expect(await (await get('/api/v1/realtime/visitors?site_id=live')).json()).toMatchObject({ site: 'live', visitors: { value: 4 } });
  });

  it('compare=previous_period gives each metric its change against the period just before, as Plausible computes it', async () => {
    const HOUR = 60 * MIN;
    const t = bucketStart(Date.now(), 'hour') - 2 * HOUR;
    await writeCheckpointedSpeedRows(store, {
      pageMinutes: [
        { partition: 0, site: 'cmp', pageId: '/a', bucket: t - HOUR + 5 * MIN, views: 4, version: 1 },
        { partition: 0, site: 'cmp', pageId: '/a', bucket: t + 5 * MIN, views: 6, version: 1 },
      ],
      overflow: [],
      visitors: [],
    });
    const body = (await (await get(`/api/v1/stats/aggregate?site_id=cmp&metrics=pageviews&from=${t}&to=${t + HOUR}&compare=previous_period`)).json()) as {
      comparedWith: { from: string; to: string };
      results: { pageviews: { value: number; change: number; previous: { value: number } } };
    };
    expect(body.comparedWith).toEqual({ from: new Date(t - HOUR).toISOString(), to: new Date(t).toISOString() });
    expect(body.results.pageviews).toMatchObject({ value: 6, change: 50, previous: { value: 4 } });
    const none = (await (await get(`/api/v1/stats/aggregate?site_id=cmp&metrics=pageviews&from=${t}&to=${t + HOUR}`)).json()) as Record<string, unknown>;
    expect(none['comparedWith']).toBeUndefined();
    expect((await get('/api/v1/stats/aggregate?compare=previous_year')).status).toBe(400);
  });

  it.each([
    [0, 0, 0],
    [0, 5, 100],
    [4, 6, 50],
    [6, 4, -33],
    [3, 4, 33],
    [200, 1, -100],
    [200, 399, 100],
  ])('percentChange(%i, %i) is %i', (before, now, change) => {
    expect(percentChange(before, now)).toBe(change);
  });

  it('the aggregate of an empty range is zero, labelled', async () => {
    const body = (await (await get(`/api/v1/stats/aggregate?site=empty&period=7d`)).json()) as { results: Record<string, { value: number }> };
    expect(body.results['pageviews']?.value).toBe(0);
    expect(body.results['visitors']?.value).toBe(0);
  });
});

describe('README examples', () => {
  it('every GET example in README.md answers 200 against a running app', async () => {
    const readme = await fs.readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const urls = [...readme.matchAll(/curl '(http:\/\/127\.0\.0\.1:3000[^']+)'/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(5);
    for (const url of urls) {
      const res = await get(url.replace('http://127.0.0.1:3000', ''));
      expect(res.status, url).toBe(200);
    }
  });
});

describe('stateless', () => {
  it('two instances over the same store give identical answers', async () => {
    const other = createServingApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
    const s = await new Promise<Server>((resolve) => {
      const x = other.listen(0, '127.0.0.1', () => resolve(x));
    });
    try {
      const url = `/api/v1/stats/timeseries?site=shop&period=day&interval=hour`;
      const a = await (await get(url)).text();
      const b = await (await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}${url}`)).text();
      expect(b).toBe(a);
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});

describe('views held in memory', () => {
  it('answer from the version they hold until their next refresh, then from the newly published boundary, with an ETag per version', async () => {
    const views = new ServingViews(store, { refreshIntervalMs: 3_600_000, maxStalenessMs: 3_600_000, memoryBudgetBytes: 1 << 24, cacheBudgetBytes: 1 << 24, logger: silentLogger });
    await views.start();
    const held = createServingApp({ log, controlLog: log, adminApiKey: null, store, views, metrics: new PlatformMetrics(), logger: silentLogger });
    const s = await new Promise<Server>((resolve) => {
      const x = held.listen(0, '127.0.0.1', () => resolve(x));
    });
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/api/v1/stats/aggregate?metrics=pageviews&period=day`;
    const answer = async () => {
      const res = await fetch(url);
      return { etag: res.headers.get('etag'), exactThrough: ((await res.json()) as { exactThrough: string | null }).exactThrough };
    };
    try {
      const before = await answer();
      expect(before.etag).toMatch(/^W\/"[\w-]+\.[\w-]+"$/);
      const revalidate = (etag: string) =>
        new Promise<number>((resolve, reject) => {
          // node:http, not fetch: fetch adds Cache-Control: no-cache to a conditional request, which rules out 304.
          http.get(url, { headers: { 'if-none-match': etag } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          }).on('error', reject);
        });
      expect(await revalidate(before.etag!)).toBe(304);
      const cutoff = Date.UTC(2026, 9, 21);
      await store.recordBatchRun({
        batchId: 'held-run', status: 'success', startedAt: 1, finishedAt: Date.now() + 60_000, cutoffTime: cutoff,
        endOffsets: {}, rowsRead: 0, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: 0, error: null,
      });
      expect(before.exactThrough).not.toBe(new Date(cutoff).toISOString());
      expect(await answer()).toEqual(before);
      await views.refresh();
      const after = await answer();
      expect(after.exactThrough).toBe(new Date(cutoff).toISOString());
      expect(after.etag).not.toBe(before.etag);
      expect(await revalidate(before.etag!)).toBe(200);
      expect(await revalidate(after.etag!)).toBe(304);
    } finally {
      views.stop();
      await new Promise((r) => s.close(r));
    }
  });
});
