export type {
  ConsumeOptions,
  EventLog,
  LogBatch,
  LogConsumer,
  LogMessage,
  LogRecord,
  ReadRangeOptions,
} from './event-log.ts';
export {
  EmbeddedEventLog,
  EMBEDDED_EVENT_LOG_DEFAULTS,
  type EmbeddedEventLogOptions,
} from './embedded-log.ts';
export { murmur2, partitionForKey } from './partitioner.ts';
export { KafkaEventLog, KAFKA_EVENT_LOG_DEFAULTS, type KafkaEventLogOptions } from './kafka-log.ts';
