/**
 * Regression: KafkaEventLog.readRange never resolved offsets, so after the first fetch of a
 * partition (about 4 MiB, ~20k page views) every fetch returned the same records and a batch
 * raw copy of a larger partition never finished. Found by the batch benchmark. The appends
 * here (2.6 MB each, one partition) also cover the producer splitting a send under the
 * broker's 1 MiB message.max.bytes, which it refused with MESSAGE_TOO_LARGE before.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaEventLog } from '../../shared/adapters/event-log/index.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';
import { missingInfra, suiteName } from '../support/infra.ts';

const brokers = inject('infra').kafkaBrokers;

const skipReason = missingInfra('Kafka');

describe.skipIf(skipReason !== undefined)(suiteName('KafkaEventLog.readRange past the first fetch', skipReason), () => {
  // Built in hooks, never while the file loads: a skipped suite must not touch Kafka.
  const topic = `pv-${randomUUID()}`;
  let log: KafkaEventLog;
  beforeAll(() => {
    log = new KafkaEventLog({ brokers: brokers ?? [], topic, partitions: 1 });
  });
  afterAll(async () => {
    await log?.close();
    await deleteKafkaTopics(brokers ?? [], [topic]);
  });

  it('reads every record of a partition several fetches long, in order', async () => {
    await log.ensureTopic();
    const value = 'x'.repeat(250);
    const total = 50_000; // ~13 MiB: at least three 4 MiB fetches
    for (let i = 0; i < total; i += 10_000) {
      await log.append(Array.from({ length: 10_000 }, (_, j) => ({ key: null, value: `${i + j}:${value}` })));
    }
    let expected = 10;
    await log.readRange({
      partition: 0,
      fromOffset: 10,
      toOffset: total,
      onRecords: async (records) => {
        for (const r of records) {
          expect(r.offset).toBe(expected);
          expected += 1;
        }
      },
    });
    expect(expected).toBe(total);
  }, 120_000);
});
