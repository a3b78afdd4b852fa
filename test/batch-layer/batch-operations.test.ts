/**
 * Batch operations on the embedded backends: the cron schedule, the lease, concurrent
 * triggers, the admin API and the CLI.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchControl, runOptionsOf } from '../../batch-layer/index.ts';
import { BatchScheduler } from '../../batch-layer/index.ts';
import { EmbeddedEventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { encodePageView, pageViewKey, type PageView } from '../../shared/core/page-view.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { createServingApp } from '../../serving-layer/index.ts';
import { until } from '../support/wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOUR = 3_600_000;
const ADMIN = 'test-admin-key-0123456789';


describe('batch operations (embedded)', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  let controlLog: EmbeddedEventLog;
  let store: DuckDbViewStore;
  const stops: (() => Promise<unknown>)[] = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-batch-ops-'));
    log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
    controlLog = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views.batch-control', partitions: 1, pollIntervalMs: 20 });
    await log.ensureTopic();
    await controlLog.ensureTopic();
    store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
    await store.migrate();
    const t = bucketStart(Date.now(), 'day') - 5 * HOUR;
    const events: PageView[] = Array.from({ length: 40 }, (_, i) => ({
      schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId: `/p${i % 4}`, visitorId: `v${i}`, timestamp: t + i * 1000,
    }));
    await log.append(events.map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    await log.close();
    await controlLog.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const scheduler = (options: ConstructorParameters<typeof BatchScheduler>[4] = {}, metrics = new PlatformMetrics(), on: DuckDbViewStore = store): BatchScheduler => {
    const s = new BatchScheduler(log, on, silentLogger, metrics, options);
    stops.push(() => s.stop());
    return s;
  };
  const ticks = async (metrics: PlatformMetrics, outcome: 'ran' | 'skipped'): Promise<number> =>
    (await metrics.batchScheduledTicks.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

  it('runs on its cron schedule when it holds the lease, and skips when it does not', async () => {
    const idleMetrics = new PlatformMetrics();
    const idle = scheduler({ cron: '* * * * * *', leaseHeld: () => false }, idleMetrics);
    idle.start();
    await until('a skipped cron tick', async () => (await ticks(idleMetrics, 'skipped')) >= 1);
    expect(await ticks(idleMetrics, 'ran')).toBe(0);
    expect(await store.batchRuns(10)).toEqual([]);
    await idle.stop();
    const activeMetrics = new PlatformMetrics();
    const active = scheduler({ cron: '* * * * * *' }, activeMetrics);
    active.start();
    expect(active.nextRun()).not.toBeNull();
    await until('a scheduled run', async () => (await store.batchRuns(10)).some((r) => r.status === 'success'));
    expect(await ticks(activeMetrics, 'ran')).toBeGreaterThanOrEqual(1);
    expect(await ticks(activeMetrics, 'skipped')).toBe(0);
  });

  it('two concurrent triggers produce one run', async () => {
    const s = scheduler();
    const [a, b] = await Promise.all([s.trigger(), s.trigger()]);
    expect(a.run.batchId).toBe(b.run.batchId);
    expect((await store.batchRuns(10)).map((r) => r.status)).toEqual(['success']);
    expect(s.running).toBe(false);
  });

  it('counts the records a run puts in the invalid-record ledger', async () => {
    await log.append([{ key: 'bad', value: '{"not":"an event"}' }, { key: 'bad2', value: Buffer.from([0xff, 0x7b]) }]);
    const metrics = new PlatformMetrics();
    const { run } = await scheduler({}, metrics).trigger();
    expect(run.rowsInvalid).toBe(2);
    expect((await metrics.batchInvalidRecords.get()).values[0]?.value).toBe(2);
  });

  it('refuses a trigger without the lease', async () => {
    await expect(scheduler({ leaseHeld: () => false }).trigger()).rejects.toMatchObject({ code: 'PV_BATCH_NOT_LEASE_HOLDER' });
  });

  describe('admin API', () => {
    const serve = async (adminApiKey: string | null, withScheduler = true, runStore: DuckDbViewStore = store, onRequest: () => void = () => undefined): Promise<string> => {
      if (withScheduler) {
        const s = scheduler({ leaseHeld: () => control.held() }, new PlatformMetrics(), runStore);
        const control = new BatchControl(controlLog, silentLogger, {
          onRequest: async (r) => {
            const run = s.trigger(runOptionsOf(r));
            onRequest();
            await run;
          },
        });
        await control.start();
        stops.push(() => control.stop());
      }
      const app = createServingApp({ log, controlLog, adminApiKey, store, metrics: new PlatformMetrics(), logger: silentLogger });
      const server = await new Promise<Server>((resolve) => {
        const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
      });
      stops.push(() => new Promise((r) => server.close(r)));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/batch/runs`;
    };
    const post = (url: string, token: string | null, body = '{}') =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) }, body });

    it('POST needs the admin token: 401 without, 403 when wrong', async () => {
      const url = await serve(ADMIN);
      const missing = await post(url, null);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await post(url, 'wrong-token')).status).toBe(403);
    });

    it.each([
      ['no token', null],
      ['a token', ADMIN],
      ['a malformed header', ''],
    ])('with admin routes disabled, POST with %s says they are disabled (403), not that a token is missing', async (_what, token) => {
      const disabled = await serve(null, false);
      const res = await post(disabled, token);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe('admin routes are disabled: start the server with ADMIN_API_KEY set (at least 16 characters)');
    });

    it.each([
      ['a future cutoff', '{"cutoff":"2999-01-01T00:00:00Z"}', /^"cutoff": 2999-01-01T00:00:00\.000Z is in the future; e\.g\. "cutoff": "\d{4}-\d\d-\d\dT\d\d:00:00Z", the start of the current UTC hour$/],
      [
        'a cutoff off the hour',
        '{"cutoff":"2026-01-01T00:30:00Z"}',
        /^"cutoff" must be on a UTC hour \(the batch views are built per hour\): 2026-01-01T00:30:00\.000Z is not; e\.g\. "cutoff": "2026-01-01T00:00:00Z", the last full hour before it$/,
      ],
      ['an unknown field', '{"fast":true}', /unknown field/],
      ['a non-boolean full', '{"full":"yes"}', /'full' must be true or false/],
    ])('POST rejects %s with 400', async (_name, body, message) => {
      const url = await serve(ADMIN);
      const res = await post(url, ADMIN, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    });

    it('two concurrent POSTs give 202 and one run, visible in GET', async () => {
      // The run's view build waits until both requests have reached the scheduler, so the
      // second one arrives while the first run is in flight, whatever the machine's load.
      let requests = 0;
      let release!: () => void;
      const bothArrived = new Promise<void>((resolve) => (release = resolve));
      const gated = new Proxy(store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (property === 'buildBatchViews') return async (...args: unknown[]) => bothArrived.then(() => (value as (...a: unknown[]) => unknown).apply(target, args));
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const url = await serve(ADMIN, true, gated, () => {
        requests += 1;
        if (requests === 2) release();
      });
      const [a, b] = await Promise.all([post(url, ADMIN), post(url, ADMIN)]);
      expect([a.status, b.status]).toEqual([202, 202]);
      // Without a cutoff, exact through the last full hour (as npm run batch -- --now).
      const asked = (await a.json()) as { status: string; cutoff: string };
      expect(asked.status).toBe('requested');
      expect(Date.now() - Date.parse(asked.cutoff)).toBeLessThan(3_600_000 + 60_000);
      expect(Date.parse(asked.cutoff) % 3_600_000).toBe(0);
      await until('both requests at the scheduler', () => requests === 2);
      await until('the requested run', async () => (await store.batchRuns(10)).some((r) => r.status === 'success'));
      const runs = (await (await fetch(url)).json()) as { runs: { status: string; durationMs: number; cutoffTime: string }[] };
      expect(runs.runs).toHaveLength(1);
      expect(runs.runs[0]).toMatchObject({ status: 'success', cutoffTime: asked.cutoff });
      expect(runs.runs[0]!.durationMs).toBeGreaterThanOrEqual(0);
      expect((await fetch(`${url}?limit=0`)).status).toBe(400);
    });
  });
});

describe('npm run batch', () => {
  const batch = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'cli/batch.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'error', ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('--dry-run prints the plan and changes nothing; --now runs and prints the record', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-batch-cli-'));
    try {
      const dry = batch(['--dry-run'], { DATA_DIR: dir });
      expect(dry.status, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ full: false, recordsToCopy: 0 });
      const now = batch(['--now', '--cutoff', new Date(bucketStart(Date.now(), 'hour')).toISOString()], { DATA_DIR: dir });
      expect(now.status, now.stderr).toBe(0);
      expect(JSON.parse(now.stdout)).toMatchObject({ status: 'success', rowsRead: 0 });
      const offHour = batch(['--now', '--cutoff', '2026-01-01T00:30:00Z'], { DATA_DIR: dir });
      expect(offHour.status).toBe(2);
      expect(offHour.stderr).toContain(
        'error: --cutoff must be on a UTC hour (the batch views are built per hour): 2026-01-01T00:30:00.000Z is not; e.g. --cutoff 2026-01-01T00:00:00Z, the last full hour before it',
      );
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
