/** Test clean-up for real Kafka: deletes the topics a test created. */
import { Kafka, logLevel } from 'kafkajs';

export async function deleteKafkaTopics(brokers: string[], topics: string[]): Promise<void> {
  const admin = new Kafka({ brokers, clientId: 'pv-test-cleanup', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const toDelete = topics.filter((t) => existing.has(t));
    if (toDelete.length > 0) await admin.deleteTopics({ topics: toDelete, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}
