/**
 * Degraded mode on a real ClickHouse: the test starts a private ClickHouse server (its own
 * folder and ports, via scripts/infra.sh), stops it mid-test and starts it again, so the
 * shared server that other suites use is never touched.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { createPlatformApp } from '../../cli/platform-app.ts';
import { missingInfra, suiteName } from '../support/infra.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HTTP_PORT = 18123 + Math.floor(Math.random() * 500);
const TCP_PORT = HTTP_PORT + 1000;

const skipReason = missingInfra('ClickHouse');

describe.skipIf(skipReason !== undefined)(suiteName('degraded mode: ClickHouse stops and comes back', skipReason), () => {
  let infraDir: string;
  let dir: string;
  let log: EmbeddedEventLog;
  let store: ClickHouseViewStore;
  let server: Server;
  let base: string;

  const infra = (...args: string[]): void => {
    execFileSync('bash', ['scripts/infra.sh', ...args], {
      cwd: ROOT,
      env: { ...process.env, INFRA_DIR: infraDir, CLICKHOUSE_HTTP_PORT: String(HTTP_PORT), CLICKHOUSE_TCP_PORT: String(TCP_PORT) },
      stdio: 'pipe',
      timeout: 120_000,
    });
  };

  beforeAll(async () => {
    infraDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-ch-private-'));
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-degraded-'));
    infra('start', 'clickhouse');
    log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
    await log.ensureTopic();
    store = new ClickHouseViewStore({ url: `http://127.0.0.1:${HTTP_PORT}`, database: `t_${randomUUID().replace(/-/g, '')}`, requestTimeoutMs: 3000 });
    await store.migrate();
    const app = createPlatformApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  }, 180_000);

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    try {
      infra('stop', 'clickhouse');
    } catch {
      // already stopped
    }
    await store?.close();
    await log?.close();
    await fs.rm(infraDir, { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('answers 503 with Retry-After and /ready says the store is down, then recovers', async () => {
    const query = `${base}/stats/aggregate?period=7d`;
    expect((await fetch(query)).status).toBe(200);
    expect(await (await fetch(`${base}/ready`)).json()).toMatchObject({ ready: true, store: 'up', log: 'up' });

    infra('stop', 'clickhouse');
    const down = await fetch(query);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect(await down.json()).toMatchObject({ error: { code: 'PV_STORE_UNAVAILABLE' } });
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

    infra('start', 'clickhouse');
    expect((await fetch(query)).status).toBe(200);
    expect((await fetch(`${base}/ready`)).status).toBe(200);
  }, 180_000);
});
