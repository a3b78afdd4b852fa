/**
 * kafkajs client plumbing shared by the Kafka event log's modules: the retry backoff every
 * client, producer and consumer uses (exponential from INITIAL_RETRY_MS, at most MAX_RETRY_MS
 * apart), the log creator that sends kafkajs logs through pino, and `connectClient`, which
 * connects an admin client or producer once and lets its owner forget it when the connect fails.
 */
import kafkajs from 'kafkajs';
import type { logCreator } from 'kafkajs';
import type { Logger } from '../../runtime/logger.ts';

const { logLevel } = kafkajs;

export const INITIAL_RETRY_MS = 200;
export const MAX_RETRY_MS = 1000;

/** kafkajs logs go through pino. */
export function pinoLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...extra } = log;
      const fields = { kafkajs: namespace, ...extra };
      // We limit producer retries on purpose (see kafka-producer.ts): the producer is
      // replaced after any failed send, which keeps the idempotence guarantee.
      if (namespace === 'Producer' && message.startsWith('Limiting retries for the idempotent producer')) {
        logger.debug(fields, message);
        return;
      }
      if (level === logLevel.ERROR) logger.error(fields, message);
      else if (level === logLevel.WARN) logger.warn(fields, message);
      else if (level === logLevel.INFO) logger.info(fields, message);
      else logger.debug(fields, message);
    };
}

/**
 * Connects a kafkajs client (admin or producer). If the connect fails, `forget` gets the
 * returned promise (so its owner can drop it and reconnect on the next call), the client is
 * disconnected, and the promise rejects with the connect error.
 */
export function connectClient<T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(
  client: T,
  forget: (connecting: Promise<T>) => void,
): Promise<T> {
  const connecting: Promise<T> = client.connect().then(
    () => client,
    async (err: unknown) => {
      forget(connecting);
      await client.disconnect().catch(() => undefined);
      throw err;
    },
  );
  return connecting;
}
