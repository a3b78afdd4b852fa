import { inject } from 'vitest';
import { kafkaClickHouseBackends } from '../support/backends.ts';
import { missingInfra } from '../support/infra.ts';
import { describePipeline } from './pipeline.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describePipeline('Kafka + ClickHouse', () => kafkaClickHouseBackends(kafkaBrokers, clickhouseUrl, { partitions: 2 }), {
  skip: missingInfra('Kafka', 'ClickHouse'),
});
