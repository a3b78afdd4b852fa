/**
 * A batch run SIGKILLed mid-way changes nothing users see: the previous boundary and views
 * stay published, and the next run succeeds with exact views. On the embedded backends and
 * on real Kafka + ClickHouse.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { runBatch } from '../../batch-layer/batch-run.ts';
import { openBackends, type Backends } from '../../shared/backends.ts';
import { loadConfig } from '../../shared/config.ts';
import { silentLogger } from '../../shared/logger.ts';
import { encodePageView, pageViewKey } from '../../shared/page-view.ts';
import { bucketStart } from '../../shared/time-buckets.ts';
import { ClickHouseViewStore } from '../../shared/view-store/index.ts';
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

function killMidRun(env: Record<string, string>, cutoff: number): Promise<{ signal: NodeJS.Signals | null; published: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/batch.ts', '--now', '--cutoff', String(cutoff)], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let killing = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!killing && out.includes('batch run started')) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), 150);
      }
    });
    child.once('error', reject);
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve({ signal, published: out.includes('batch run published') });
    });
  });
}

function describeKill(name: string, env: () => Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>, count: number, skip: boolean): void {
  describe.skipIf(skip)(`batch run SIGKILLed mid-way: ${name}`, () => {
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
        expect(killed.published).toBe(false);

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
  150_000,
  false,
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
  60_000,
  kafkaBrokers === null || clickhouseUrl === null,
);
