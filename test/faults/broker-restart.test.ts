/**
 * Fault suite (npm run test:faults, one file at a time): the Kafka broker restarts while the
 * collector takes events. Every event the collector acknowledged (202) is in the topic
 * afterwards; requests during the restart are refused (503, nothing written), never lost.
 * This restarts the shared broker, so it runs only in the fault suite, never beside other tests.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPlatformApp } from '../../cli/platform-app.ts';
import { KafkaEventLog } from '../../shared/adapters/event-log/index.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { missingInfra, suiteName } from '../support/infra.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';
import { readAllRecords } from '../support/read-log.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PER_REQUEST = 50;
/** Bounds of the load loop: at most this many requests, and this long. */
const MAX_REQUESTS = 2000;
const MAX_MS = 150_000;
const skip = missingInfra('Kafka');

describe.skipIf(skip !== undefined)(suiteName('fault: the Kafka broker restarts during ingest', skip), () => {
  const topic = `pv-${randomUUID()}`;
  let log: KafkaEventLog;
  let store: DuckDbViewStore;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: inject('infra').kafkaBrokers ?? [], topic, partitions: 3, logger: silentLogger });
    await log.ensureTopic();
    store = await DuckDbViewStore.open({ path: ':memory:' });
    await store.migrate();
    const app = createPlatformApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/events`;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await log?.close();
    await store?.close();
    await deleteKafkaTopics(inject('infra').kafkaBrokers ?? [], [topic]).catch(() => undefined);
  });

  it('loses no acknowledged event', async () => {
    const acknowledged = new Set<string>();
    const answers = new Map<number | string, number>();
    let restarted: Promise<unknown> | null = null;
    let restartDone = false;
    let afterRestart = 0;
    const started = Date.now();
    for (let i = 0; i < MAX_REQUESTS && Date.now() - started < MAX_MS; i++) {
      const events = Array.from({ length: PER_REQUEST }, () => ({ eventId: randomUUID(), pageId: `/p${i % 7}`, visitorId: `v${i}`, timestamp: Date.now() }));
      let status: number | string;
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events), signal: AbortSignal.timeout(30_000) });
        status = res.status;
        await res.arrayBuffer();
      } catch (err) {
        status = (err as Error).name; // a timeout: nothing was acknowledged
      }
      answers.set(status, (answers.get(status) ?? 0) + 1);
      if (status === 202) for (const e of events) acknowledged.add(e.eventId);
      if (i === 20) {
        restarted = promisify(execFile)('bash', ['scripts/infra.sh', 'restart', 'kafka'], { cwd: ROOT, timeout: 120_000 }).then(() => {
          restartDone = true;
        });
      }
      if (restartDone && status === 202) afterRestart += 1;
      if (afterRestart >= 20) break;
    }
    await restarted;
    expect(restartDone).toBe(true);
    expect(afterRestart).toBeGreaterThanOrEqual(20); // ingest recovered after the restart

    const stored = new Set((await readAllRecords(log)).map((r) => (JSON.parse(r.value.toString('utf8')) as { eventId: string }).eventId));
    const missing = [...acknowledged].filter((id) => !stored.has(id));
    console.log(
      `broker restart during ingest: ${acknowledged.size.toLocaleString('en')} acknowledged, ${missing.length} missing; answers ${JSON.stringify(Object.fromEntries(answers))}`,
    );
    expect(missing).toEqual([]);
  }, 300_000);
});
