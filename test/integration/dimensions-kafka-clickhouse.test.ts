import { inject } from 'vitest';
import { kafkaClickHouseBackends } from '../support/backends.ts';
import { missingInfra } from '../support/infra.ts';
import { describeDimensions } from './dimensions.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describeDimensions('Kafka + ClickHouse', () => kafkaClickHouseBackends(kafkaBrokers, clickhouseUrl, { partitions: 2 }), {
  skip: missingInfra('Kafka', 'ClickHouse'),
});
