import { inject } from 'vitest';
import { kafkaClickHouseBackends } from '../support/backends.ts';
import { missingInfra } from '../support/infra.ts';
import { describeSessions } from './sessions.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describeSessions('Kafka + ClickHouse', () => kafkaClickHouseBackends(kafkaBrokers, clickhouseUrl, { partitions: 2 }), {
  skip: missingInfra('Kafka', 'ClickHouse'),
});
