/**
 * A speed-layer process for fault tests: consumes KAFKA_TOPIC as group SPEED_GROUP into the
 * ClickHouse database CLICKHOUSE_DATABASE, prints "ready" once consuming, runs until killed.
 * FLUSH_MS sets the flush interval (200 ms). RECORDS_PER_SECOND, when set, slows consumption
 * to about that rate (batches applied in chunks of THROTTLE_CHUNK records, a pause after each),
 * so that a catch-up takes several checkpoints and a test can kill the worker during it.
 * CRASH_BEFORE_CHECKPOINT_AT, when set, makes the first flush whose checkpoints would cover that
 * many records (over all partitions) write its rows and SIGKILL the process before writing the
 * checkpoints: a kill that lands between the two inserts of a flush on ClickHouse.
 * Started by test/support/speed-worker-process.ts.
 */
import fs from 'node:fs';
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
const crashAt = Number(process.env['CRASH_BEFORE_CHECKPOINT_AT'] ?? 0);
if (crashAt > 0) {
  // The checkpoints written so far by anyone, then by this worker: what a flush would bring them to.
  const covered = new Map<number, number>();
  for (const cp of (await store.speedCheckpoints()).values()) covered.set(cp.partition, cp.nextOffset);
  const writeSpeedFlush = store.writeSpeedFlush.bind(store);
  store.writeSpeedFlush = async (rows, checkpoints) => {
    const after = new Map(covered);
    for (const cp of checkpoints) after.set(cp.partition, cp.nextOffset);
    const through = [...after.values()].reduce((x, y) => x + y, 0);
    if (through >= crashAt) {
      // What writeSpeedFlush does on ClickHouse, stopped after the rows: the checkpoints' insert never comes.
      await store.writeSpeedRows(rows);
      fs.writeSync(1, `crashed between rows and checkpoint at ${through}\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    await writeSpeedFlush(rows, checkpoints);
    for (const cp of checkpoints) covered.set(cp.partition, cp.nextOffset);
  };
}
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
