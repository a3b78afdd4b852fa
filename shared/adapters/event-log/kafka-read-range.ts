/**
 * readRange of the Kafka event log: reads the offsets [fromOffset, toOffset) of one partition
 * and hands them to `onRecords` in chunks of at most MAX_CHUNK_RECORDS. It checks the range
 * against the partition's watermarks, then runs a throwaway consumer group (no commits, so the
 * broker drops it on leave) with an assigner that gives it just the one partition, seeked to
 * `fromOffset`; offsets are resolved as they are read so each fetch moves on, and a gap in the
 * offsets (retention) fails the read with PV_OFFSET_OUT_OF_RANGE.
 */
import { randomUUID } from 'node:crypto';
import type { ConsumerCrashEvent, Kafka } from 'kafkajs';
import type { Logger } from '../../runtime/logger.ts';
import {
  consumerConfig,
  MAX_CHUNK_RECORDS,
  runConsumer,
  singlePartitionAssigner,
  toLogRecord,
  type ConsumerSettings,
} from './kafka-consumer.ts';
import { outOfRange, toPlatformError } from './kafka-errors.ts';
import type { LogRecord, ReadRangeOptions } from './event-log.ts';

/** Low (first retained) and high (next) offset of one partition. */
export interface PartitionWatermark {
  partition: number;
  low: number;
  high: number;
}

/** What readRange needs from the log: its client, topic, settings, logger and watermarks. */
export interface ReadRangeContext {
  /** The client of admin and consumers. */
  kafka: Kafka;
  topic: string;
  settings: ConsumerSettings & { clientId: string };
  logger: Logger;
  watermarks: () => Promise<PartitionWatermark[]>;
}

/** Reads that fail before delivering a record, with a retriable error, are tried again this many times in all. */
export const READ_ATTEMPTS = 5;
const RETRY_BASE_MS = 250;

/**
 * A read whose consumer fails with a retriable error before any record reached `onRecords`
 * (a group coordinator still loading after a broker start, a leader moving) is run again with
 * a new consumer, after 250 ms, 500 ms, … : nothing was handed on, so nothing is handed twice.
 * A failure after records were handed on is the caller's to retry (its own resume point).
 */
export async function readRange(context: ReadRangeContext, options: ReadRangeOptions): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const progress = { delivered: false };
    try {
      await readRangeOnce(context, options, progress);
      return;
    } catch (err) {
      const retriable = typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
      if (!retriable || progress.delivered || attempt >= READ_ATTEMPTS) throw err;
      context.logger.warn({ err, partition: options.partition, attempt }, 'log read failed before any record; retrying');
      await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 2 ** (attempt - 1)));
    }
  }
}

async function readRangeOnce(context: ReadRangeContext, options: ReadRangeOptions, progress: { delivered: boolean }): Promise<void> {
  const { kafka, topic, logger } = context;
  const { partition, fromOffset, toOffset, onRecords } = options;
  if (!Number.isSafeInteger(fromOffset) || !Number.isSafeInteger(toOffset) || fromOffset > toOffset) {
    throw new RangeError(`invalid range [${fromOffset}, ${toOffset})`);
  }
  const watermark = (await context.watermarks()).find((w) => w.partition === partition);
  if (watermark === undefined) throw new RangeError(`partition ${partition} of topic ${topic} does not exist`);
  const details = { partition, fromOffset, toOffset, startOffset: watermark.low, endOffset: watermark.high };
  if (fromOffset < watermark.low) {
    throw outOfRange(`offset ${fromOffset} of partition ${partition} is below the retained start ${watermark.low}`, details);
  }
  if (toOffset > watermark.high) {
    throw outOfRange(`offset ${toOffset} of partition ${partition} is past the end ${watermark.high}`, details);
  }
  if (fromOffset === toOffset) return;

  const o = context.settings;
  const consumer = kafka.consumer({
    ...consumerConfig(o, `${o.clientId}-read-${randomUUID()}`, 100, false),
    partitionAssigners: [singlePartitionAssigner(topic, partition)],
  });
  let next = fromOffset;
  let settled = false;
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const finish = (err?: unknown): void => {
    if (settled) return;
    settled = true;
    if (err === undefined) resolveDone();
    else rejectDone(err);
  };
  consumer.on(consumer.events.CRASH, (event: ConsumerCrashEvent) =>
    finish(toPlatformError(event.payload.error, `reading partition ${partition}`)),
  );
  try {
    await runConsumer(consumer, topic, {
      eachBatch: async ({ batch, isStale, pause, heartbeat, resolveOffset }) => {
        if (settled || isStale() || batch.partition !== partition) return;
        try {
          let chunk: LogRecord[] = [];
          for (const message of batch.messages) {
            const offset = Number(message.offset);
            // Resolved offsets move the fetch position: without it every fetch would return
            // the first batch again (auto-resolve is off so a failed batch is not skipped).
            resolveOffset(message.offset);
            if (offset < next) continue;
            if (offset !== next) {
              throw outOfRange(`partition ${partition} has no offset ${next} (retention?)`, { ...details, found: offset });
            }
            chunk.push(toLogRecord(message, partition));
            next++;
            if (next >= toOffset) break;
            if (chunk.length >= MAX_CHUNK_RECORDS) {
              progress.delivered = true;
              await onRecords(chunk);
              chunk = [];
              await heartbeat();
            }
          }
          if (chunk.length > 0) {
            progress.delivered = true;
            await onRecords(chunk);
          }
          if (next >= toOffset) {
            pause();
            finish();
          }
        } catch (err) {
          // Not rethrown: kafkajs would retry the batch and call onRecords twice.
          pause();
          finish(err);
        }
      },
    });
    consumer.seek({ topic, partition, offset: String(fromOffset) });
    await done;
  } catch (err) {
    // A crash (or an onRecords failure) settles `done` first: report that, not a follow-up error.
    if (settled) await done;
    throw toPlatformError(err, `reading partition ${partition}`);
  } finally {
    await consumer.disconnect().catch((err: unknown) => logger.warn({ err }, 'read consumer disconnect failed'));
  }
}
