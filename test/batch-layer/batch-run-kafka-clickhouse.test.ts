import { inject } from 'vitest';
import { kafkaClickHouseBackends } from '../support/backends.ts';
import { missingInfra } from '../support/infra.ts';
import { describeBatchAccuracy } from './batch-run.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describeBatchAccuracy('Kafka + ClickHouse', () => kafkaClickHouseBackends(kafkaBrokers, clickhouseUrl, { partitions: 3 }), {
  skip: missingInfra('Kafka', 'ClickHouse'),
});
