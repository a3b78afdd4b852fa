import { inject } from 'vitest';
import { kafkaClickHouseBackends } from '../support/backends.ts';
import { missingInfra } from '../support/infra.ts';
import { describeLateEvents } from './late-events.scenario.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');

describeLateEvents('Kafka + ClickHouse', () => kafkaClickHouseBackends(kafkaBrokers, clickhouseUrl, { partitions: 2 }), {
  skip: missingInfra('Kafka', 'ClickHouse'),
});
