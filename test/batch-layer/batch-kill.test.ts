/**
 * A batch run SIGKILLed mid-way changes nothing users see: the previous boundary and views
 * stay published, and the next run succeeds with exact views. On the embedded backends and
 * on real Kafka + ClickHouse. The kill lands at a pause point the test controls (the raw copy
 * part-written), never at a moment that depends on the machine's load.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { openBackends, type Backends } from '../../shared/runtime/backends.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { encodePageView, pageViewKey } from '../../shared/core/page-view.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { missingInfra, suiteName } from '../support/infra.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOUR = 3_600_000;
const { kafkaBrokers, clickhouseUrl } = inject('infra');

async function fill(backends: Backends, from: number, count: number, t0: number): Promise<void> {
  for (let i = 0; i < count; i += 5000) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + 5000); j++) {
      const e = { schemaVersion: 1 as const, eventId: randomUUID(), site: 'default', pageId: `/p${(from + j) % 50}`, visitorId: `v${(from + j) % 5000}`, timestamp: t0 + ((from + j) % (3 * HOUR)) };
      messages.push({ key: pageViewKey(e), value: encodePageView(e) });
    }
    await backends.log.append(messages);
  }
}

/**
 * Runs a batch in a child process that pauses once its raw copy has written some rows but
 * not all (test/support/batch-worker.ts), then SIGKILLs it there: the kill lands mid-run
 * whatever the machine's load.
 */
function killMidRun(env: Record<string, string>, cutoff: number): Promise<{ signal: NodeJS.Signals | null; pausedAt: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/batch-worker.ts'], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'error', BATCH_CUTOFF: String(cutoff), BATCH_INSERT_ROWS: '1000', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let pausedAt = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const paused = /paused (\d+\/\d+)/.exec(out);
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
    it('leaves the previous views served; the next run succeeds and marks the killed one abandoned', async () => {
      const { env: vars, cleanup } = await env();
      const config = loadConfig(vars);
      const t0 = bucketStart(Date.now(), 'day') - 2 * 24 * HOUR;
      const firstCutoff = t0 + HOUR;
      const secondCutoff = t0 + 3 * HOUR;
      const hours = { site: 'default', from: t0, to: t0 + 3 * HOUR };
      try {
        let backends = await openBackends(config, silentLogger);
        await fill(backends, 0, count, t0);
        const first = await runBatch(backends.log, backends.store, silentLogger, { cutoffTime: firstCutoff });
        const published = await backends.store.batchViews(first.run.batchId, hours);
        await fill(backends, count, count, t0);
        await backends.close(); // the embedded log and DuckDB file belong to one process

        const killed = await killMidRun(vars, secondCutoff);
        expect(killed.signal).toBe('SIGKILL');
        const [copied, total] = killed.pausedAt.split('/').map(Number);
        expect(copied).toBeGreaterThan(0); // killed with part of the raw copy written
        expect(copied).toBeLessThan(total!);

        backends = await openBackends(config, silentLogger);
        try {
          const boundary = await backends.store.latestBoundary();
          expect(boundary?.batchId).toBe(first.run.batchId);
          expect(await backends.store.batchViews(first.run.batchId, hours)).toEqual(published);
          const next = await runBatch(backends.log, backends.store, silentLogger, { cutoffTime: secondCutoff });
          expect(next.run.status).toBe('success');
          expect(next.run.rowsCounted).toBe(2 * count);
          const views = await backends.store.batchViews(next.run.batchId, hours);
          expect(views.reduce((a, b) => a + b.views, 0)).toBe(2 * count);
          const runs = await backends.store.batchRuns(10);
          expect(runs.map((r) => r.status)).toEqual(['success', 'failed', 'success']);
          expect(runs[1]?.error).toMatch(/^abandoned/);
          console.log(`batch SIGKILL (${name}): killed with ${killed.pausedAt} records copied; previous views kept; next run counted ${next.run.rowsCounted} of ${2 * count}`);
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
