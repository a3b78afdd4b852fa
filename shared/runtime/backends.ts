/**
 * Chooses and opens the adapters from the configuration: Kafka or the embedded log,
 * ClickHouse or DuckDB. Layer code only ever sees the EventLog and ViewStore interfaces.
 */
import path from 'node:path';
import type { PlatformConfig } from './config.ts';
import { EmbeddedEventLog, KafkaEventLog, type EventLog } from '../adapters/event-log/index.ts';
import type { Logger } from './logger.ts';
import { ClickHouseViewStore, DuckDbViewStore, type ViewStore } from '../adapters/view-store/index.ts';

export interface Backends {
  log: EventLog;
  /** The batch control topic (see batch-layer/batch-control.ts). */
  controlLog: EventLog;
  store: ViewStore;
  close(): Promise<void>;
}

export function openEventLog(config: PlatformConfig, logger: Logger): EventLog {
  return config.kafkaBrokers === null
    ? new EmbeddedEventLog({
        dataDir: path.join(config.dataDir, 'log'),
        topic: config.kafkaTopic,
        partitions: config.kafkaPartitions,
        logger: logger.child({ module: 'embedded-log' }),
      })
    : new KafkaEventLog({
        brokers: config.kafkaBrokers,
        topic: config.kafkaTopic,
        partitions: config.kafkaPartitions,
        logger: logger.child({ module: 'kafka-log' }),
      });
}

/** The batch layer's one-partition control topic (lease and run requests), beside the page-view topic. */
export function openControlLog(config: PlatformConfig, logger: Logger): EventLog {
  const topic = `${config.kafkaTopic}.batch-control`;
  return config.kafkaBrokers === null
    ? new EmbeddedEventLog({ dataDir: path.join(config.dataDir, 'log'), topic, partitions: 1, logger: logger.child({ module: 'embedded-log' }) })
    : new KafkaEventLog({ brokers: config.kafkaBrokers, topic, partitions: 1, logger: logger.child({ module: 'kafka-log' }) });
}

export async function openViewStore(config: PlatformConfig): Promise<ViewStore> {
  return config.clickhouseUrl === null
    ? DuckDbViewStore.open({ path: path.join(config.dataDir, 'views.duckdb') })
    : new ClickHouseViewStore({
        url: config.clickhouseUrl,
        database: config.clickhouseDatabase,
        username: config.clickhouseUser,
        password: config.clickhousePassword,
        requestTimeoutMs: config.clickhouseRequestTimeoutMs,
      });
}

/** Opens both adapters, creates the topic and applies migrations. */
export async function openBackends(config: PlatformConfig, logger: Logger): Promise<Backends> {
  const log = openEventLog(config, logger);
  await log.ensureTopic();
  const controlLog = openControlLog(config, logger);
  await controlLog.ensureTopic();
  const store = await openViewStore(config);
  await store.migrate();
  return {
    log,
    controlLog,
    store,
    close: async () => {
      await Promise.allSettled([log.close(), controlLog.close(), store.close()]);
    },
  };
}
