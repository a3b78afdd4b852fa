/**
 * A batch run SIGKILLed mid-way changes nothing users see: the previous boundary and views
 * stay published, and the next run succeeds with exact views. On the embedded backends and
 * on real Kafka + ClickHouse. The kill lands at a pause point the test controls (the raw copy
 * part-written, or the view build with some of its passes written), never at a moment that
 * depends on the machine's load.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { openBackends } from '../../shared/runtime/backends.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { appendBatchTestEvents, BATCH_TEST_VISITORS } from '../support/batch-events.ts';
import { missingInfra, suiteName } from '../support/infra.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOUR = 3_600_000;
const { kafkaBrokers, clickhouseUrl } = inject('infra');

/** Where the worker pauses to be killed: its raw copy part-written, or its view build part-done. */
type KillPoint = 'copy' | 'build';

/** Raw rows per build pass of the run killed mid-build: several passes, so it pauses between two. */
const EVENTS_PER_PASS = '10000';

/**
 * Runs a batch in a child process that pauses once its raw copy has written some rows but
 * not all, or once its view build has written some of its passes but not all
 * (test/support/batch-worker.ts), then SIGKILLs it there: the kill lands mid-run whatever the
 * machine's load.
 */
function killMidRun(env: Record<string, string>, cutoff: number, at: KillPoint): Promise<{ signal: NodeJS.Signals | null; pausedAt: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/batch-worker.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        LOG_LEVEL: 'error',
        BATCH_CUTOFF: String(cutoff),
        BATCH_INSERT_ROWS: '1000',
        BATCH_PAUSE_AT: at,
        BATCH_EVENTS_PER_PASS: EVENTS_PER_PASS,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let pausedAt = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const paused = new RegExp(`paused ${at} (\\d+/\\d+)`).exec(out);
      if (pausedAt === '' && paused !== null) {
        pausedAt = paused[1]!;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (pausedAt === '') reject(new Error(`the batch worker exited (code ${code}, signal ${signal}) before pausing:\n${out}${err}`));
      else resolve({ signal, pausedAt });
    });
  });
}

function describeKill(name: string, env: () => Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>, count: number, skip: string | undefined): void {
  describe.skipIf(skip !== undefined)(suiteName(`batch run SIGKILLed mid-way: ${name}`, skip), () => {
    it.each<KillPoint>(['copy', 'build'])('killed mid-%s, leaves the previous views served; the next run succeeds and marks the killed one abandoned', async (at) => {
      const { env: vars, cleanup } = await env();
      const config = loadConfig(vars);
      const t0 = bucketStart(Date.now(), 'day') - 2 * 24 * HOUR;
      const firstCutoff = t0 + HOUR;
      const secondCutoff = t0 + 3 * HOUR;
      const hours = { site: 'default', from: t0, to: t0 + 3 * HOUR };
      try {
        let backends = await openBackends(config, silentLogger);
        await appendBatchTestEvents(backends.log, 0, count, t0);
        const first = await runBatch(backends.log, backends.store, silentLogger, { cutoffTime: firstCutoff });
        const published = await backends.store.batchViews(first.run.batchId, hours);
        await appendBatchTestEvents(backends.log, count, count, t0);
        await backends.close(); // the embedded log and DuckDB file belong to one process

        const killed = await killMidRun(vars, secondCutoff, at);
        expect(killed.signal).toBe('SIGKILL');
        const [done, of] = killed.pausedAt.split('/').map(Number);
        expect(done).toBeGreaterThan(0); // killed with part of the raw copy, or some build passes, written
        expect(done).toBeLessThan(of!);

        backends = await openBackends(config, silentLogger);
        try {
          const boundary = await backends.store.latestBoundary();
          expect(boundary?.batchId).toBe(first.run.batchId);
          expect(await backends.store.batchViews(first.run.batchId, hours)).toEqual(published);
          const [killedRun] = await backends.store.batchRuns(1);
          expect(killedRun?.status).toBe('running');
          // The killed version's rows written so far: present in the store, never served (the
          // boundary above names the previous run). Killed in its visitor passes, it holds all
          // its page views and part of its visitors.
          const partial = (await backends.store.batchPageTotals(killedRun!.batchId, hours)).reduce((a, b) => a + b.views, 0);
          const partialVisitors = await backends.store.batchVisitors(killedRun!.batchId, hours);
          if (at === 'build') {
            expect(partial).toBe(2 * count);
            expect(partialVisitors).toBeGreaterThan(0);
            expect(partialVisitors).toBeLessThan(BATCH_TEST_VISITORS);
          } else {
            expect(partial).toBe(0);
          }
          const next = await runBatch(backends.log, backends.store, silentLogger, { cutoffTime: secondCutoff });
          expect(next.run.status).toBe('success');
          expect(next.run.rowsCounted).toBe(2 * count);
          const views = await backends.store.batchViews(next.run.batchId, hours);
          expect(views.reduce((a, b) => a + b.views, 0)).toBe(2 * count);
          const runs = await backends.store.batchRuns(10);
          expect(runs.map((r) => r.status)).toEqual(['success', 'failed', 'success']);
          expect(runs[1]?.batchId).toBe(killedRun!.batchId);
          expect(runs[1]?.error).toMatch(/^abandoned/);
          expect(await backends.store.batchPageTotals(killedRun!.batchId, hours)).toEqual([]); // its partial rows dropped
          const where = at === 'copy' ? `${killed.pausedAt} records copied` : `${killed.pausedAt} visitor passes written (its version, unpublished: ${partial} page views, ${partialVisitors} visitors)`;
          console.log(`batch SIGKILL mid-${at} (${name}): killed with ${where}; previous views kept; next run counted ${next.run.rowsCounted} of ${2 * count}`);
        } finally {
          await backends.close();
        }
      } finally {
        await cleanup();
      }
    }, 180_000);
  });
}

describeKill(
  'embedded log + DuckDB',
  async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-batch-kill-'));
    return { env: { DATA_DIR: dir, GENERATOR: 'off' }, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
  },
  20_000,
  undefined,
);

describeKill(
  'Kafka + ClickHouse',
  async () => {
    const id = randomUUID().replace(/-/g, '');
    const env = { KAFKA_BROKERS: (kafkaBrokers ?? []).join(','), CLICKHOUSE_URL: clickhouseUrl ?? '', KAFKA_TOPIC: `pv-${id}`, CLICKHOUSE_DATABASE: `t_${id}` };
    return {
      env,
      cleanup: async () => {
        await deleteKafkaTopics(kafkaBrokers ?? [], [`pv-${id}`, `pv-${id}.batch-control`]);
        const store = new ClickHouseViewStore({ url: clickhouseUrl ?? '', database: `t_${id}` });
        await store.dropDatabase();
        await store.close();
      },
    };
  },
  20_000,
  missingInfra('Kafka', 'ClickHouse'),
);
