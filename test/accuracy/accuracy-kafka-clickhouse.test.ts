import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { KafkaEventLog } from '../../shared/event-log/index.ts';
import { ClickHouseViewStore } from '../../shared/view-store/index.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';
import { describeAccuracy } from './accuracy.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describeAccuracy(
  'Kafka + ClickHouse',
  async (partitions) => {
    const id = randomUUID().replace(/-/g, '');
    const log = new KafkaEventLog({ brokers: kafkaBrokers ?? [], topic: `pv-${id}`, partitions });
    const store = new ClickHouseViewStore({ url: clickhouseUrl ?? '', database: `t_${id}` });
    return {
      log,
      store,
      cleanup: async () => {
        await log.close();
        await deleteKafkaTopics(kafkaBrokers ?? [], [`pv-${id}`, `pv-${id}.dead-letter`]);
        await store.dropDatabase();
        await store.close();
      },
    };
  },
  { skip: kafkaBrokers === null || clickhouseUrl === null },
);
