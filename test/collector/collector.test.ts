import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_EVENTS_PER_REQUEST } from '../../collector/index.ts';
import { EmbeddedEventLog, KafkaEventLog, type EventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { createPlatformApp } from '../../cli/platform-app.ts';

async function serve(log: EventLog, store: DuckDbViewStore): Promise<{ server: Server; url: string }> {
  const app = createPlatformApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/events` };
}

const event = () => ({ eventId: randomUUID(), pageId: '/a', visitorId: 'v', timestamp: Date.now() });
const post = (url: string, body: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

describe('POST /api/v1/events', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  let store: DuckDbViewStore;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-collector-'));
    log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
    await log.ensureTopic();
    store = await DuckDbViewStore.open({ path: ':memory:' });
    ({ server, url } = await serve(log, store));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await log.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const total = async (): Promise<number> => [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);

  it('accepts one event or an array, and every accepted event is in the log', async () => {
    const before = await total();
    expect(await (await post(url, JSON.stringify(event()))).json()).toEqual({ accepted: 1 });
    const res = await post(url, JSON.stringify([event(), event(), event()]));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 3 });
    expect(await total()).toBe(before + 4);
  });

  it.each([
    ['an empty array', '[]', 400, 'PV_EVENT_INVALID'],
    ['null', 'null', 400, 'PV_EVENT_INVALID'],
    ['malformed JSON', '{"eventId":', 400, 'PV_BODY_INVALID'],
    ['too many events', JSON.stringify(Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, event)), 400, 'PV_EVENT_INVALID'],
    ['a body over 1 MiB', JSON.stringify([{ ...event(), pageId: '/' + 'x'.repeat(1_100_000) }]), 413, 'PV_BODY_INVALID'],
  ])('rejects %s and writes nothing', async (_name, body, status, code) => {
    const before = await total();
    const res = await post(url, body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    expect(await total()).toBe(before);
  });

  it('rejects a batch with one invalid event whole, naming the item and field', async () => {
    const before = await total();
    const res = await post(url, JSON.stringify([event(), { ...event(), timestamp: 'yesterday' }]));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        code: 'PV_EVENT_INVALID',
        message: '1 of 2 events are invalid; nothing was written',
        details: [{ index: 1, errors: [{ field: 'timestamp', message: 'must be epoch ms or an ISO-8601 date-time with a zone, e.g. 2026-01-31T12:00:00Z' }] }],
      },
    });
    expect(await total()).toBe(before);
  });

  it.each([
    ['a lone high surrogate in pageId', { pageId: '/x\ud800' }, 'pageId'],
    ['a lone low surrogate in visitorId', { visitorId: '\udc00v' }, 'visitorId'],
    ['a non-character in referrer', { referrer: 'https://x/\uffff' }, 'referrer'],
  ])('rejects an event with %s (issue #12) and writes nothing', async (_name, fields, field) => {
    const before = await total();
    const body = JSON.stringify([event(), { ...event(), ...fields }]);
    expect(body).toMatch(/\\ud[89a-f][0-9a-f]{2}|\uffff/); // on the wire as JSON text: a \udxxx escape or the character itself
    const res = await post(url, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        code: 'PV_EVENT_INVALID',
        message: '1 of 2 events are invalid; nothing was written',
        details: [{ index: 1, errors: [{ field, message: 'must be valid Unicode text (no lone surrogates or non-characters)' }] }],
      },
    });
    expect(await total()).toBe(before);
  });

  it('refuses a body that is not valid UTF-8 (the parser would have repaired it), writing nothing', async () => {
    const before = await total();
    const body = Buffer.concat([Buffer.from(JSON.stringify({ ...event(), pageId: '/a' }).slice(0, -2)), Buffer.from([0xff, 0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'PV_BODY_INVALID', message: 'request body is not valid UTF-8' } });
    expect(await total()).toBe(before);
  });

  it('accepts text outside the BMP (a surrogate pair is one character, not a lone surrogate)', async () => {
    const before = await total();
    const res = await post(url, JSON.stringify({ ...event(), pageId: '/caf\u00e9-\u{1f600}', visitorId: '\u{20000}' }));
    expect(res.status).toBe(202);
    expect(await total()).toBe(before + 1);
  });
});

describe('POST /api/v1/events when the log is unreachable', () => {
  it('answers 503 with Retry-After (Kafka broker down)', async () => {
    const log = new KafkaEventLog({ brokers: ['127.0.0.1:1'], topic: 'unreachable', retries: 1 });
    const store = await DuckDbViewStore.open({ path: ':memory:' });
    const { server, url } = await serve(log, store);
    try {
      const res = await post(url, JSON.stringify(event()));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PV_LOG_UNAVAILABLE');
    } finally {
      await new Promise((r) => server.close(r));
      await log.close();
      await store.close();
    }
  });

  it('answers 503 when the embedded log is closed', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-collector-'));
    const log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
    await log.ensureTopic();
    await log.close();
    const store = await DuckDbViewStore.open({ path: ':memory:' });
    const { server, url } = await serve(log, store);
    try {
      const res = await post(url, JSON.stringify(event()));
      expect(res.status).toBe(503);
    } finally {
      await new Promise((r) => server.close(r));
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
