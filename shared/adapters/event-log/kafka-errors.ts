/**
 * Errors of the Kafka event log: the one place where kafkajs errors become PlatformErrors.
 * `toPlatformError` follows the `cause` chain and decides from kafkajs error classes and their
 * `retriable` flag (never from message text): an offset out of range, records the broker
 * rejected, or an unavailable log that is retriable when the failure is transient. The other
 * Kafka modules (producer, consumer, readRange, the facade) convert every failure through it.
 */
import kafkajs from 'kafkajs';
import { PlatformError } from '../../core/errors.ts';

const {
  KafkaJSError,
  KafkaJSAggregateError,
  KafkaJSBrokerNotFound,
  KafkaJSConnectionError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSMetadataNotLoaded,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSOffsetOutOfRange,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  KafkaJSTimeout,
} = kafkajs;

const INVALID_MESSAGE_TYPES = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = err;
  while (current !== undefined && current !== null && chain.length < 10 && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** True when the same call may succeed later: decided from kafkajs error classes and `retriable`. */
function isTransient(err: unknown): boolean {
  return causeChain(err).some((e) => {
    if (e instanceof KafkaJSAggregateError) return e.errors.some(isTransient);
    return (
      e instanceof KafkaJSNumberOfRetriesExceeded ||
      e instanceof KafkaJSConnectionError ||
      e instanceof KafkaJSRequestTimeoutError ||
      e instanceof KafkaJSBrokerNotFound ||
      e instanceof KafkaJSMetadataNotLoaded ||
      e instanceof KafkaJSGroupCoordinatorNotFound ||
      e instanceof KafkaJSTimeout ||
      (e instanceof KafkaJSError && e.retriable)
    );
  });
}

/** Converts a kafkajs (or any foreign) error into a PlatformError; PlatformErrors pass through. */
export function toPlatformError(err: unknown, operation: string): PlatformError {
  const chain = causeChain(err);
  const platform = chain.find((e): e is PlatformError => e instanceof PlatformError);
  if (platform !== undefined) return platform;
  const protocol = chain.find((e) => e instanceof KafkaJSProtocolError) as InstanceType<typeof KafkaJSProtocolError> | undefined;
  if (chain.some((e) => e instanceof KafkaJSOffsetOutOfRange)) {
    return new PlatformError('PV_OFFSET_OUT_OF_RANGE', `kafka: ${operation}: offset out of range`, { cause: err });
  }
  if (protocol !== undefined && INVALID_MESSAGE_TYPES.has(protocol.type)) {
    return new PlatformError('PV_EVENT_INVALID', `kafka: ${operation}: broker rejected the records (${protocol.type})`, {
      cause: err,
    });
  }
  return new PlatformError('PV_LOG_UNAVAILABLE', `kafka: ${operation} failed`, {
    cause: err,
    retriable: isTransient(err),
    details: protocol === undefined ? undefined : { type: protocol.type },
  });
}

export function closedError(): PlatformError {
  // Retriable: the process is shutting down; another instance (or this one restarted) answers.
  return new PlatformError('PV_LOG_CLOSED', 'event log is closed', { retriable: true });
}

export function outOfRange(message: string, details: Record<string, unknown>): PlatformError {
  return new PlatformError('PV_OFFSET_OUT_OF_RANGE', message, { details });
}
