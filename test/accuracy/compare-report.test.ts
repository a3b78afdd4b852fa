/**
 * The comparison report (API and CLI), the divergence recorded with every batch run, and the
 * accuracy check failing when the speed layer is deliberately broken (uniques summed per
 * bucket instead of united).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { EmbeddedEventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { HyperLogLog } from '../../shared/core/sketches/index.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import type { BatchRunRecord } from '../../shared/adapters/view-store/index.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { makeWorkload, type Workload } from '../../shared/tools/workload.ts';
import { createServingApp } from '../../serving-layer/index.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { speedCountedThrough, until } from '../support/wait.ts';
import { visitorsWithinBound } from '../../shared/core/query/index.ts';
import { truthSessions, truthTotals, type TruthEvent } from '../support/ground-truth-sessions.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOUR = 3_600_000;

let dir: string;
let log: EmbeddedEventLog;
let store: DuckDbViewStore;
let workload: Workload;
let run: BatchRunRecord;
const day0 = bucketStart(Date.now(), 'day');
const start = day0 - 6 * HOUR;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-compare-'));
  log = new EmbeddedEventLog({ dataDir: path.join(dir, 'log'), topic: 'page-views', partitions: 2, pollIntervalMs: 20 });
  await log.ensureTopic();
  store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
  await store.migrate();
  workload = makeWorkload({
    seed: 5, events: 3000, pages: 40, visitors: 500, pageSkew: 1, start, durationMs: 6 * HOUR, cutoff: day0,
    duplicateRate: 0.05, lateRate: 0.03, partitions: 2, latenessMs: 120_000, maxFutureSkewMs: 300_000, now: Date.now(),
  });
  await log.append(workload.messages);
  const speed = new SpeedLayer(log, store, silentLogger, new PlatformMetrics(), { groupId: 'speed', flushIntervalMs: 50 });
  await speed.start();
  const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
  await until('the speed layer counted every record', () => speedCountedThrough(store, end));
  await speed.stop();
  ({ run } = await runBatch(log, store, silentLogger, { cutoffTime: day0 }));
}, 120_000);

afterAll(async () => {
  await log.close();
  await store.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('divergence after a batch run', () => {
  it('is recorded with the run: totals per site over the day the run covered', async () => {
    const { truth } = workload;
    const batch = [...truth.batchSiteHours.values()].reduce((a, b) => a + b, 0);
    const speed = [...truth.speedSiteHours].filter(([h]) => h < day0).reduce((a, [, v]) => a + v, 0);
    expect(run.divergence?.sites['default']).toMatchObject({ batch, speed, relativeDifference: (speed - batch) / batch });
    // Redeliveries and late events are policy differences: outside the Count-Min bound alone.
    expect(run.divergence?.sites['default']?.withinBound).toBe(speed === batch);
    expect(run.divergence?.sites['default']?.visitors?.withinBound).toBe(true);
    const [latest] = await store.batchRuns(1);
    expect(latest?.divergence).toEqual(run.divergence);
  });

  it('records visits and bounce rate too: the batch side as the ground-truth sessionizer says, the divergence of the speed side', () => {
    const events: TruthEvent[] = [];
    for (const m of workload.messages) {
      try {
        const e = JSON.parse(String(m.value)) as Partial<TruthEvent> & { timestamp?: unknown };
        if (typeof e.eventId === 'string' && typeof e.visitorId === 'string' && typeof e.pageId === 'string' && typeof e.timestamp === 'number') {
          events.push({ eventId: e.eventId, site: e.site ?? 'default', visitorId: e.visitorId, pageId: e.pageId, timestamp: e.timestamp });
        }
      } catch {
        // a malformed record of the workload: dead-lettered, in no view
      }
    }
    const truth = truthTotals(truthSessions(events), { site: 'default', from: day0 - 24 * HOUR, to: day0 });
    const sessions = run.divergence?.sites['default']?.sessions;
    expect(truth.visits).toBeGreaterThan(0);
    expect(sessions?.batch).toEqual({ visits: truth.visits, bounceRate: Math.round((100 * truth.bounces) / truth.visits) });
    expect(sessions?.speed.visits).toBeGreaterThan(0);
    expect(sessions?.visitsRelativeDifference).toBe((sessions!.speed.visits - truth.visits) / truth.visits);
    expect(sessions?.bounceRateDifference).toBe(sessions!.speed.bounceRate - sessions!.batch.bounceRate);
    console.log(`divergence of the run: visits batch ${truth.visits}, speed ${sessions!.speed.visits}; bounce rate batch ${sessions!.batch.bounceRate}%, speed ${sessions!.speed.bounceRate}%`);
  });
});

describe('compare report', () => {
  it('GET /api/v1/compare puts speed and batch side by side per bucket', async () => {
    const app = createServingApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/compare?from=${start}&to=${day0 + 2 * HOUR}&interval=hour`;
      const body = (await (await fetch(url)).json()) as {
        comparedTo: string;
        rows: { bucket: string; batch: number; speed: number; difference: number; withinBound: boolean }[];
        totals: { batch: number };
        sessions: { batch: { visits: number }; speed: { visits: number } } | null;
      };
      expect(body.sessions?.batch.visits).toBeGreaterThan(0);
      expect(body.sessions?.speed.visits).toBeGreaterThan(0);
      expect(body.comparedTo).toBe(new Date(day0).toISOString()); // only buckets before the boundary
      expect(body.rows).toHaveLength(6);
      for (const row of body.rows) {
        const hour = Date.parse(row.bucket);
        expect(row.batch).toBe(workload.truth.batchSiteHours.get(hour) ?? 0);
        expect(row.speed).toBe(workload.truth.speedSiteHours.get(hour) ?? 0);
        expect(row.difference).toBe(row.speed - row.batch);
      }
      const bad = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/compare?interval=minute`);
      expect(bad.status).toBe(400);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('npm run compare prints the same comparison as a table, and JSON with --json', async () => {
    await store.close(); // the DuckDB file belongs to one process at a time
    try {
      const args = ['--from', new Date(start).toISOString(), '--to', new Date(day0).toISOString()];
      const cli = (extra: string[]) =>
        spawnSync(process.execPath, ['--import', 'tsx', 'cli/compare.ts', ...args, ...extra], {
          cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', DATA_DIR: dir }, encoding: 'utf8', timeout: 60_000,
        });
      const table = cli([]);
      expect(table.status, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/bucket\s+batch\s+speed\s+diff\s+rel\s+bound\s+within/);
      expect(table.stdout.split('\n').filter((l) => /^\d{4}-/.test(l))).toHaveLength(6);
      expect(table.stdout).toContain('visitors: compared over whole UTC days only');
      expect(table.stdout).toMatch(/^visits: batch \d+, speed \d+ \(.*\); bounce rate: batch \d+%, speed \d+% \([+-]?\d+ points\)$/m);
      const json = cli(['--json']);
      expect(JSON.parse(json.stdout).totals.batch).toBe([...workload.truth.batchSiteHours.values()].reduce((a, b) => a + b, 0));
      // A range after the boundary holds no bucket of both layers: said so, not "within: yes".
      const after = spawnSync(process.execPath, ['--import', 'tsx', 'cli/compare.ts', '--from', new Date(day0).toISOString(), '--to', new Date(day0 + 2 * HOUR).toISOString()], {
        cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', DATA_DIR: dir }, encoding: 'utf8', timeout: 60_000,
      });
      expect(after.status, after.stderr).toBe(0);
      expect(after.stdout).toMatch(/^nothing to compare: no whole hour of .* is held by both layers \(the batch layer is exact through /);
      expect(after.stdout).not.toMatch(/^total\s|\byes\b/m);
    } finally {
      store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
    }
  });
});

describe('the accuracy check catches a broken speed layer', () => {
  it('uniques summed per bucket instead of united fail the visitors bound; the union passes', async () => {
    const sketches = await store.speedVisitorSketches({ site: 'default', grain: 'hour', from: start, to: day0 });
    const hours = sketches.map((s) => HyperLogLog.fromBase64(s));
    const exact = new Set([...workload.truth.speedVisitorsByHour].filter(([h]) => h < day0).flatMap(([, s]) => [...s])).size;
    const union = HyperLogLog.union(hours, 14);
    const brokenSum = hours.reduce((a, h) => a + h.estimate(), 0);
    expect(visitorsWithinBound(union.estimate(), exact, union.relativeStandardError)).toBe(true);
    expect(visitorsWithinBound(brokenSum, exact, union.relativeStandardError)).toBe(false);
    console.log(`broken speed layer: summed uniques ${brokenSum.toFixed(0)} vs exact ${exact} (union ${union.estimate().toFixed(0)}): rejected`);
  });
});
