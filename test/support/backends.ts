/**
 * Fresh, isolated backends for a test: an embedded log and DuckDB file in a temp folder, or
 * a Kafka topic `pv-<uuid>` and ClickHouse database `t_<uuid>` — each with its clean-up.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEventLog, KafkaEventLog, type EventLog } from '../../shared/adapters/event-log/index.ts';
import { ClickHouseViewStore, DuckDbViewStore, type ViewStore } from '../../shared/adapters/view-store/index.ts';
import { deleteKafkaTopics } from './kafka-admin.ts';

export interface TestBackends {
  log: EventLog;
  store: ViewStore;
  cleanup: () => Promise<void>;
}

export async function embeddedBackends(options: { partitions?: number } = {}): Promise<TestBackends> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-test-'));
  const log = new EmbeddedEventLog({ dataDir: path.join(dir, 'log'), topic: 'page-views', pollIntervalMs: 20, ...(options.partitions === undefined ? {} : { partitions: options.partitions }) });
  const store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
  return {
    log,
    store,
    cleanup: async () => {
      await log.close();
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export function kafkaClickHouseBackends(kafkaBrokers: string[] | null, clickhouseUrl: string | null, options: { partitions?: number } = {}): Promise<TestBackends> {
  const id = randomUUID().replace(/-/g, '');
  const topic = `pv-${id}`;
  const log = new KafkaEventLog({ brokers: kafkaBrokers ?? [], topic, ...(options.partitions === undefined ? {} : { partitions: options.partitions }) });
  const store = new ClickHouseViewStore({ url: clickhouseUrl ?? '', database: `t_${id}` });
  return Promise.resolve({
    log,
    store,
    cleanup: async () => {
      await log.close();
      await deleteKafkaTopics(kafkaBrokers ?? [], [topic, `${topic}.dead-letter`, `${topic}.batch-control`]);
      await store.dropDatabase();
      await store.close();
    },
  });
}
