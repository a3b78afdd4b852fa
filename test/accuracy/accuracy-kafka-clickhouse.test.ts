import { inject } from 'vitest';
import { kafkaClickHouseBackends } from '../support/backends.ts';
import { missingInfra } from '../support/infra.ts';
import { describeAccuracy } from './accuracy.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describeAccuracy('Kafka + ClickHouse', (partitions) => kafkaClickHouseBackends(kafkaBrokers, clickhouseUrl, { partitions }), {
  skip: missingInfra('Kafka', 'ClickHouse'),
});
