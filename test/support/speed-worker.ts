/**
 * A speed-layer process for fault tests: consumes KAFKA_TOPIC as group SPEED_GROUP into the
 * ClickHouse database CLICKHOUSE_DATABASE, prints "ready" once consuming, runs until killed.
 */
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
