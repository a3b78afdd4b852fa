/**
 * Degraded mode on a real ClickHouse: the test starts a private ClickHouse server (its own
 * folder and ports, via scripts/infra.sh), so the shared server that other suites use is never
 * touched. Two faults: the server stopped (connections refused) and the server frozen by
 * SIGSTOP (connections accepted, never answered: a hung store). Either way reads answer 503
 * with Retry-After within the store's deadline, /ready says the store is down, and everything
 * answers again once the server is back.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { STORE_UNAVAILABLE_MESSAGE } from '../../shared/adapters/view-store/clickhouse-store.ts';
import { createPlatformApp } from '../../cli/platform-app.ts';
import { missingInfra, suiteName } from '../support/infra.ts';
import { PrivateClickHouse } from '../support/private-clickhouse.ts';
import { until } from '../support/wait.ts';


/** The store's deadlines in this test: short, so the frozen case is quick. */
const READ_DEADLINE_MS = 1500;
const PING_DEADLINE_MS = 1000;
/** The product requirement: a hung store is answered within its deadline plus this. */
const SLACK_MS = 1000;

/** Every read route of the serving layer. */
const READS = [
  '/stats/aggregate?period=7d',
  '/stats/timeseries?period=day',
  '/stats/breakdown?period=7d',
  '/pages/%2Fa/views?interval=minute',
  '/boundary',
  '/realtime/visitors',
  '/compare?period=day',
  '/batch/runs',
];

const skipReason = missingInfra('ClickHouse');

describe.skipIf(skipReason !== undefined)(suiteName('degraded mode: ClickHouse stops or hangs, and comes back', skipReason), () => {
  let clickhouse: PrivateClickHouse;
  let dir: string;
  let log: EmbeddedEventLog;
  let store: ClickHouseViewStore;
  let server: Server;
  let base: string;
  /** The pid of the private server while it is frozen: afterAll thaws it whatever happened. */
  let frozenPid: number | null = null;

  /** The private server's pid, from the pid file scripts/infra.sh writes in its INFRA_DIR. */
  const clickhousePid = async (): Promise<number> => {
    const pid = Number((await fs.readFile(path.join(clickhouse.dir, 'clickhouse', 'clickhouse.pid'), 'utf8')).trim());
    const cmdline = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
    expect(cmdline).toContain(path.join(clickhouse.dir, 'clickhouse', 'etc', 'config.xml'));
    return pid;
  };

  /** The process state letter of /proc/<pid>/stat: 'T' once SIGSTOP has taken effect. */
  const processState = async (pid: number): Promise<string> => {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  };

  const thaw = (): void => {
    if (frozenPid === null) return;
    process.kill(frozenPid, 'SIGCONT');
    frozenPid = null;
  };

  const timed = async (route: string): Promise<{ res: Response; ms: number }> => {
    const started = performance.now();
    const res = await fetch(`${base}${route}`);
    await res.arrayBuffer();
    return { res, ms: Math.round(performance.now() - started) };
  };

  const body = async (route: string): Promise<{ status: number; json: unknown; retryAfter: string | null; ms: number }> => {
    const started = performance.now();
    const res = await fetch(`${base}${route}`);
    const json: unknown = await res.json();
    return { status: res.status, json, retryAfter: res.headers.get('retry-after'), ms: Math.round(performance.now() - started) };
  };

  const expectAllReadsOk = async (): Promise<void> => {
    for (const route of READS) {
      expect((await timed(route)).res.status, route).toBe(200);
    }
    const ready = await body('/ready');
    expect(ready).toMatchObject({ status: 200, json: { ready: true, store: 'up', log: 'up' } });
  };

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-degraded-'));
    clickhouse = await PrivateClickHouse.start(18123);
    log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
    await log.ensureTopic();
    store = new ClickHouseViewStore({
      url: clickhouse.url,
      database: `t_${randomUUID().replace(/-/g, '')}`,
      requestTimeoutMs: READ_DEADLINE_MS,
      pingTimeoutMs: PING_DEADLINE_MS,
    });
    await store.migrate();
    const app = createPlatformApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  }, 180_000);

  afterAll(async () => {
    thaw();
    await new Promise((r) => server?.close(r));
    await clickhouse?.remove();
    await store?.close();
    await log?.close();
    await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('answers 503 with Retry-After and /ready says the store is down while it is stopped, then recovers', async () => {
    const query = `${base}/stats/aggregate?period=7d`;
    expect((await fetch(query)).status).toBe(200);
    expect(await (await fetch(`${base}/ready`)).json()).toMatchObject({ ready: true, store: 'up', log: 'up' });

    clickhouse.run('stop');
    const down = await fetch(query);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    // A Plausible route: the message as the error string, the code beside it.
    expect(await down.json()).toEqual({ error: STORE_UNAVAILABLE_MESSAGE, code: 'PV_STORE_UNAVAILABLE' });
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, degraded: true, store: 'down', log: 'up' });
    // Liveness is unaffected, and the collector still takes events (they go to the log).
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const collected = await fetch(`${base}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ eventId: randomUUID(), pageId: '/a', visitorId: 'v', timestamp: Date.now() }),
    });
    expect(collected.status).toBe(202);

    clickhouse.run('start');
    expect((await fetch(query)).status).toBe(200);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
  }, 180_000);

  it('answers every read with 503 and Retry-After within the deadline while ClickHouse is frozen (SIGSTOP), then recovers', async () => {
    await expectAllReadsOk();

    const pid = await clickhousePid();
    frozenPid = pid;
    try {
      process.kill(pid, 'SIGSTOP');
      await until('the private ClickHouse to be stopped (state T)', async () => (await processState(pid)) === 'T');

      const durations: Record<string, number> = {};
      for (const route of READS) {
        const answer = await body(route);
        durations[route] = answer.ms;
        expect(answer, route).toMatchObject({
          status: 503,
          retryAfter: '5',
          json: route.startsWith('/stats/')
            ? { error: STORE_UNAVAILABLE_MESSAGE, code: 'PV_STORE_UNAVAILABLE' }
            : { error: { code: 'PV_STORE_UNAVAILABLE', message: STORE_UNAVAILABLE_MESSAGE } },
        });
        expect(answer.ms, `${route} answered in ${answer.ms} ms`).toBeLessThanOrEqual(READ_DEADLINE_MS + SLACK_MS);
      }
      const ready = await body('/ready');
      durations['/ready'] = ready.ms;
      expect(ready).toMatchObject({ status: 503, retryAfter: '5', json: { ready: false, degraded: true, store: 'down', log: 'up' } });
      expect(ready.ms, `/ready answered in ${ready.ms} ms`).toBeLessThanOrEqual(PING_DEADLINE_MS + SLACK_MS);
      // Liveness never waits on the store.
      expect((await timed('/health')).res.status).toBe(200);
      console.log(`[degraded-clickhouse] frozen: ms per request ${JSON.stringify(durations)}`);
    } finally {
      thaw();
    }

    await until('the private ClickHouse to run again', async () => (await processState(pid)) !== 'T');
    await until('/ready to answer 200 after SIGCONT', async () => (await fetch(`${base}/ready`)).status === 200);
    await expectAllReadsOk();
  }, 120_000);
});
