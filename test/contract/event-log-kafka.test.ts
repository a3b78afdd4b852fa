import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import { describe, inject } from 'vitest';
import { KafkaEventLog, type EventLog } from '../../shared/adapters/event-log/index.ts';
import { describeEventLogContract } from './event-log.contract.ts';
import { missingInfra, suiteName } from '../support/infra.ts';

const brokers = inject('infra').kafkaBrokers;

/** Deletes the test's topic and the topics it derived from it (e.g. `<topic>-dlq`). */
async function deleteTopics(kafkaBrokers: string[], prefix: string): Promise<void> {
  const admin = new kafkajs.Kafka({
    clientId: 'pv-contract-cleanup',
    brokers: kafkaBrokers,
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

const skipReason = missingInfra('Kafka');

describe.skipIf(skipReason !== undefined)(suiteName('Kafka', skipReason), () => {
  describeEventLogContract('KafkaEventLog', async () => {
    const kafkaBrokers = brokers!;
    const topic = `pv-${randomUUID()}`;
    const log = new KafkaEventLog({ brokers: kafkaBrokers, topic, clientId: 'pv-contract' });
    const opened: EventLog[] = [log];
    return {
      log,
      openTopic: async (other) => {
        const otherLog = new KafkaEventLog({ brokers: kafkaBrokers, topic: other, clientId: 'pv-contract' });
        opened.push(otherLog);
        return otherLog;
      },
      cleanup: async () => {
        await Promise.all(opened.map((l) => l.close()));
        await deleteTopics(kafkaBrokers, topic);
      },
    };
  });
});
