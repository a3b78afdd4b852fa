/**
 * A read request that runs past its deadline answers 503 with Retry-After instead of holding
 * the connection (issue #12). The store is gated: its boundary read never resolves until the
 * test releases it, so no sleep decides the outcome.
 */
import http from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';
import { serveBackends, type LocalServer } from '../support/serving-app.ts';
import { until } from '../support/wait.ts';

/** Long enough for an ungated read on DuckDB under load, short enough for a test. */
const TIMEOUT_MS = 500;

/** A gate on the store's boundary read: while closed, reads wait for release() or fail(). */
class Gate {
  private waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  closed = false;
  held = 0;
  pass(): Promise<void> {
    if (!this.closed) return Promise.resolve();
    this.held += 1;
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  release(): void {
    this.closed = false;
    for (const w of this.waiting.splice(0)) w.resolve();
  }
  fail(err: Error): void {
    this.closed = false;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}

describe('read request deadline', () => {
  let backends: TestBackends;
  let metrics: PlatformMetrics;
  let server: LocalServer;
  const gate = new Gate();
  /** Completed store reads after the gate, by method. */
  const reads = new Map<string, number>();
  const logs: { level: number; msg: string }[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  beforeAll(async () => {
    backends = await embeddedBackends();
    await backends.store.migrate();
    const store = new Proxy(backends.store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (property === 'latestBoundary') await gate.pass();
          const result = (await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
          reads.set(String(property), (reads.get(String(property)) ?? 0) + 1);
          return result;
        };
      },
    }) as ViewStore;
    const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as { level: number; msg: string }) });
    metrics = new PlatformMetrics();
    server = await serveBackends(backends, { store, metrics, logger, requestTimeoutMs: TIMEOUT_MS });
  });
  afterAll(async () => {
    gate.release();
    agent.destroy();
    await server?.close();
    await backends?.cleanup();
  });
  beforeEach(() => {
    reads.clear();
    logs.length = 0;
  });

  /** GET over the one keep-alive socket of `agent`: status, headers, body and whether the socket was reused. */
  function get(path: string): Promise<{ status: number; retryAfter: string | undefined; body: { error?: string; code?: string }; reusedSocket: boolean }> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: JSON.parse(text) as { error?: string; code?: string }, reusedSocket: req.reusedSocket }),
        );
      });
      req.once('error', reject);
    });
  }
  const timeouts = async (): Promise<number> => (await metrics.servingRequestTimeouts.get()).values[0]?.value ?? 0;
  const AGGREGATE = '/api/v1/stats/aggregate?site=deadline&metrics=pageviews&period=day';

  it('a read that outlives the deadline answers 503 with Retry-After; its late answer is dropped and the connection stays usable', async () => {
    expect((await get(AGGREGATE)).status).toBe(200); // opens the keep-alive socket
    gate.closed = true;
    const late = await get(AGGREGATE);
    expect(gate.held).toBe(1);
    expect(late.status).toBe(503);
    expect(late.retryAfter).toBe('5');
    // Plausible's route: the message is the error string, the code beside it.
    expect(late.body.code).toBe('PV_REQUEST_TIMEOUT');
    expect(late.body.error).toMatch(/longer than 500 ms \(SERVING_REQUEST_TIMEOUT_MS\)/);
    expect(await timeouts()).toBe(1);
    gate.release();
    // The held handler's refresh reads the boundary; the handler then answers (from memory) into the void.
    await until('the late handler to read the boundary', () => (reads.get('latestBoundary') ?? 0) === 2);
    const after = await get(AGGREGATE);
    expect(after).toMatchObject({ status: 200, reusedSocket: true });
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
    expect(logs.filter((l) => l.msg === 'request deadline exceeded')).toHaveLength(1);
    // Dropped quietly: a late answer is not a failure.
    expect(logs.filter((l) => l.msg === 'a request failed after its deadline had answered')).toEqual([]);
  });

  it('a read that fails after the deadline has answered is dropped: no second answer, the socket is kept', async () => {
    expect((await get(AGGREGATE)).status).toBe(200);
    gate.closed = true;
    const late = await get('/api/v1/stats/breakdown?site=deadline&period=day');
    expect(late.status).toBe(503);
    gate.fail(new Error('the store failed late'));
    await until('the late failure to be dropped', () => logs.some((l) => l.msg === 'a request failed after its deadline had answered'));
    const after = await get(AGGREGATE);
    expect(after).toMatchObject({ status: 200, reusedSocket: true });
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
  });

  it('requests within the deadline are not affected', async () => {
    const before = await timeouts();
    for (const path of [AGGREGATE, '/api/v1/stats/timeseries?site=deadline&period=day&interval=hour', '/api/v1/boundary']) {
      expect((await get(path)).status, path).toBe(200);
    }
    expect(await timeouts()).toBe(before);
  });
});
