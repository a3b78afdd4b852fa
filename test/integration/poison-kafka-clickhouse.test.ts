import { inject } from 'vitest';
import { kafkaClickHouseBackends } from '../support/backends.ts';
import { missingInfra } from '../support/infra.ts';
import { describePoison } from './poison.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describePoison('Kafka + ClickHouse', () => kafkaClickHouseBackends(kafkaBrokers, clickhouseUrl, { partitions: 3 }), {
  skip: missingInfra('Kafka', 'ClickHouse'),
});
