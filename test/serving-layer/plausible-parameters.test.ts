/**
 * No parameter of Plausible's Stats API v1 is silently ignored: every parameter its docs list
 * for each of the four routes, sent with a value the platform does not take, answers a 400
 * whose `error` is a string naming the parameter. And the answers' shapes: Plausible's dates,
 * plain numbers, no null fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';
import { serveBackends, type LocalServer } from '../support/serving-app.ts';
import { writeCheckpointedSpeedRows } from '../support/speed-rows.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';

let backends: TestBackends;
let server: LocalServer;

beforeAll(async () => {
  backends = await embeddedBackends();
  await backends.store.migrate();
  server = await serveBackends(backends);
});
afterAll(async () => {
  await server?.close();
  await backends?.cleanup();
});

const ROUTES = {
  realtime: '/api/v1/stats/realtime/visitors',
  aggregate: '/api/v1/stats/aggregate',
  timeseries: '/api/v1/stats/timeseries',
  breakdown: '/api/v1/stats/breakdown',
} as const;

/** Per route, each parameter of Plausible's v1 docs with values it must refuse. */
const REFUSED: Record<keyof typeof ROUTES, [parameter: string, value: string][]> = {
  realtime: [
    ['site_id', 'not a site'],
    ['site_id', 'x'.repeat(101)],
  ],
  aggregate: [
    ['site_id', 'not a site'],
    ['period', 'week'],
    ['period', 'all'],
    ['date', 'yesterday'],
    ['metrics', 'events'],
    ['metrics', 'conversion_rate'],
    ['metrics', 'time_on_page'],
    ['metrics', 'visitors,nonsense'],
    ['with_imported', 'yes'],
    ['compare', 'previous_year'],
    ['filters', 'event:page=/pricing'],
    ['filters', 'visit:city==Berlin'],
    ['filters', 'event:goal==Signup'],
    ['filters', 'event:props:method==card'],
    ['filters', 'visit:source=='],
    ['filters', 'visit:source==Google;'],
    ['filters', 'nonsense'],
  ],
  timeseries: [
    ['site_id', 'not a site'],
    ['period', 'week'],
    ['date', '2026-13-01'],
    ['metrics', 'time_on_page'],
    ['metrics', 'events'],
    ['metrics', 'conversion_rate'],
    ['metrics', 'nonsense'],
    ['with_imported', '1'],
    ['interval', 'week'],
    ['interval', 'year'],
    ['filters', 'visit:entry_page==/'],
    ['filters', 'visit:source~Google'],
  ],
  breakdown: [
    ['site_id', 'not a site'],
    ['property', 'visit:region'],
    ['property', 'event:goal'],
    ['property', 'event:hostname'],
    ['property', 'event:props:method'],
    ['property', 'nonsense'],
    ['period', 'week'],
    ['date', 'today'],
    ['metrics', 'bounce_rate'],
    ['metrics', 'visitors,visits'],
    ['with_imported', 'maybe'],
    ['limit', '0'],
    ['limit', '1001'],
    ['limit', 'ten'],
    ['page', '0'],
    ['page', 'two'],
    ['filters', 'visit:city==Paris'],
    ['filters', 'visit:source!='],
  ],
};

/** The other parameters a value needs to be checked at all (date goes with a period). */
const WITH: Record<string, string> = { date: 'period=day&' };

describe("every parameter of Plausible's v1 docs: refused values are a 400 whose error string names the parameter", () => {
  const cases = Object.entries(REFUSED).flatMap(([route, params]) => params.map(([parameter, value]) => [route as keyof typeof ROUTES, parameter, value] as const));

  it.each(cases)('%s: %s=%s', async (route, parameter, value) => {
    const url = `${server.base}${ROUTES[route]}?${WITH[parameter] ?? ''}${parameter}=${encodeURIComponent(value)}`;
    const res = await fetch(url);
    expect(res.status, url).toBe(400);
    const body = (await res.json()) as { error: unknown; code: string };
    expect(typeof body.error).toBe('string');
    expect(body.error).toContain(`'${parameter}'`);
    expect(body.code).toBe('PV_QUERY_INVALID');
  });

  it('every refused metric of the docs says what it comes with', async () => {
    const body = (await (await fetch(`${server.base}/api/v1/stats/aggregate?metrics=visitors,conversion_rate`)).json()) as { error: string };
    expect(body.error).toBe("parameter 'metrics': metric 'conversion_rate' comes with goals (not yet); this version has pageviews, visitors, visits, bounce_rate, visit_duration, views_per_visit");
  });

  it('with_imported=true and false are taken: nothing is imported, the answer is the same', async () => {
    const ask = async (flag: string) => (await fetch(`${server.base}/api/v1/stats/aggregate?period=7d&date=2026-11-10&with_imported=${flag}`)).json();
    expect(await ask('true')).toEqual(await ask('false'));
  });

  it("other routes keep the product's error object", async () => {
    const body = (await (await fetch(`${server.base}/api/v1/realtime/visitors?period=day`)).json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'PV_QUERY_INVALID', message: expect.stringContaining("'period'") as unknown });
    const notFound = (await (await fetch(`${server.base}/api/v1/nothing`)).json()) as { error: { code: string } };
    expect(notFound.error.code).toBe('PV_NOT_FOUND');
  });
});

describe("answers in Plausible's shapes", () => {
  const HOUR = 3_600_000;
  const t = bucketStart(Date.now(), 'hour') - 3 * HOUR;

  beforeAll(async () => {
    await writeCheckpointedSpeedRows(backends.store, {
      pageMinutes: [
        { partition: 0, site: 'shapes', pageId: '/a', bucket: t + 5 * 60_000, views: 3, version: 1 },
        { partition: 0, site: 'shapes', pageId: '/b', bucket: t + HOUR, views: 2, version: 1 },
      ],
      overflow: [],
      visitors: [],
    });
  });

  const nulls = (value: unknown, at = '$'): string[] =>
    value === null ? [at] : typeof value === 'object' ? Object.entries(value as object).flatMap(([k, v]) => nulls(v, `${at}.${k}`)) : [];

  it('hour points are dated YYYY-MM-DD HH:MM:SS, with plain numbers and no null field', async () => {
    const body = (await (await fetch(`${server.base}/api/v1/stats/timeseries?site_id=shapes&metrics=pageviews&interval=hour&from=${t}&to=${t + 2 * HOUR}`)).json()) as {
      results: { date: string; pageviews: number; exact: boolean }[];
    };
    const stamp = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
    expect(body.results).toEqual([
      { date: stamp(t), pageviews: 3, exact: false, bounds: { pageviews: { overcount: 0 } } },
      { date: stamp(t + HOUR), pageviews: 2, exact: false, bounds: { pageviews: { overcount: 0 } } },
    ]);
    expect(body).not.toHaveProperty('series');
    // exactThrough is null until a batch run has published (documented nullable); nothing else is.
    expect(nulls(body).filter((p) => p !== '$.exactThrough')).toEqual([]);
  });

  it('the aggregate leaves out absent fields: no page, period or partial as null', async () => {
    const body = await (await fetch(`${server.base}/api/v1/stats/aggregate?site_id=shapes&metrics=pageviews&from=${t}&to=${t + 2 * HOUR}`)).json();
    expect(body).not.toHaveProperty('page');
    expect(body).not.toHaveProperty('period');
    expect(body).toMatchObject({ results: { pageviews: { value: 5 } } });
    expect(nulls(body).filter((p) => p !== '$.exactThrough')).toEqual([]);
  });

  it('months start on their first day; a month clipped by the period counts only its part', async () => {
    const body = (await (await fetch(`${server.base}/api/v1/stats/timeseries?site_id=shapes&period=custom&date=2026-01-20,2026-03-05&interval=month`)).json()) as {
      interval: string;
      from: string;
      to: string;
      results: { date: string }[];
    };
    expect(body).toMatchObject({ interval: 'month', from: '2026-01-20T00:00:00.000Z', to: '2026-03-06T00:00:00.000Z' });
    expect(body.results.map((p) => p.date)).toEqual(['2026-01-01', '2026-02-01', '2026-03-01']);
  });

  it("Plausible's default intervals: hour for day, date for 7d, month for 12mo", async () => {
    const interval = async (period: string) => ((await (await fetch(`${server.base}/api/v1/stats/timeseries?site_id=shapes&period=${period}&date=2026-11-10`)).json()) as { interval: string; results: unknown[] });
    expect(await interval('day')).toMatchObject({ interval: 'hour', results: { length: 24 } });
    expect(await interval('7d')).toMatchObject({ interval: 'day', results: { length: 7 } });
    expect(await interval('12mo')).toMatchObject({ interval: 'month', results: { length: 12 } });
  });
});
