/**
 * A speed-layer process for fault tests: consumes KAFKA_TOPIC as group SPEED_GROUP into the
 * ClickHouse database CLICKHOUSE_DATABASE, prints "ready" once consuming, runs until killed.
 * FLUSH_MS sets the flush interval (200 ms). RECORDS_PER_SECOND, when set, slows consumption
 * to about that rate (batches applied in chunks of THROTTLE_CHUNK records, a pause after each),
 * so that a catch-up takes several checkpoints and a test can kill the worker during it.
 * Started by test/support/speed-worker-process.ts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { KafkaEventLog } from '../../shared/adapters/event-log/index.ts';
import { createLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`speed-worker needs ${name}`);
  return value;
};

const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn', name: `speed-worker-${process.pid}` });
const log = new KafkaEventLog({
  brokers: env('KAFKA_BROKERS').split(','),
  topic: env('KAFKA_TOPIC'),
  sessionTimeoutMs: 6000,
  heartbeatIntervalMs: 1000,
  logger,
});
const recordsPerSecond = Number(process.env['RECORDS_PER_SECOND'] ?? 0);
if (recordsPerSecond > 0) {
  const THROTTLE_CHUNK = 100;
  const consume = log.consume.bind(log);
  log.consume = (options) =>
    consume({
      ...options,
      eachBatch: async (batch) => {
        for (let i = 0; i < batch.records.length; i += THROTTLE_CHUNK) {
          const records = batch.records.slice(i, i + THROTTLE_CHUNK);
          await options.eachBatch({ ...batch, records });
          await delay((1000 * records.length) / recordsPerSecond);
        }
      },
    });
}
const store = new ClickHouseViewStore({ url: env('CLICKHOUSE_URL'), database: env('CLICKHOUSE_DATABASE') });
const speed = new SpeedLayer(log, store, logger, new PlatformMetrics(), {
  groupId: env('SPEED_GROUP'),
  flushIntervalMs: Number(process.env['FLUSH_MS'] ?? 200),
});
await speed.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void speed.stop().finally(async () => {
    await log.close();
    await store.close();
    process.exit(0);
  });
});
