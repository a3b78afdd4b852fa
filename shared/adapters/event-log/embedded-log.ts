/**
 * EmbeddedEventLog: a durable, append-only, partitioned log on local disk (the default
 * event log; KafkaEventLog is the production one). No external dependencies.
 *
 * This module holds the facade, its options and their defaults. The rest lives beside it:
 *   embedded-codec.ts        frame format, CRC-32, FrameReader
 *   embedded-segment.ts      Segment and PartitionLog (in memory), segment file names
 *   embedded-files.ts        fs helpers, the topic folder's lock, error constructors
 *   embedded-topic-store.ts  TopicStore, one per topic folder and process
 *   embedded-recovery.ts     opening a topic folder: scan, index rebuild, torn-tail recovery
 *   embedded-writer.ts       appends, segment rolls, retention
 *   embedded-groups.ts       committed offsets of consumer groups
 *   embedded-consumer.ts     PartitionCursor and EmbeddedConsumer
 *   partitioner.ts           Kafka's key partitioner (murmur2)
 * See docs/event-log.md.
 */
import { PlatformError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../runtime/logger.ts';
import { EMBEDDED_MAX_BATCH_RECORDS, EmbeddedConsumer, PartitionCursor } from './embedded-consumer.ts';
import { closedError, corrupt, outOfRange } from './embedded-files.ts';
import { acquireStore, releaseStore, type TopicStore } from './embedded-topic-store.ts';
import type { ConsumeOptions, EventLog, LogConsumer, LogMessage, ReadRangeOptions } from './event-log.ts';

export { EMBEDDED_MAX_RECORD_BYTES } from './embedded-codec.ts';
export { EMBEDDED_MAX_BATCH_RECORDS } from './embedded-consumer.ts';

export interface EmbeddedEventLogOptions {
  /** Folder holding one sub-folder per topic. Created when missing. */
  dataDir: string;
  topic: string;
  /**
   * Partitions of a topic created by this log (also used for `appendTo` topics). An existing
   * topic keeps the count stored in its topic.json.
   * @default 4
   */
  partitions?: number;
  /**
   * Whole segments whose newest record is older than this are deleted (never the active one).
   * -1 keeps everything (the master dataset).
   * @default -1
   */
  retentionMs?: number;
  /**
   * A segment is rolled (a new file started) before it would grow past this size.
   * @default 67108864 (64 MiB)
   */
  segmentBytes?: number;
  /**
   * Fallback poll interval of consumers; appends in this process wake them at once.
   * @default 500
   */
  pollIntervalMs?: number;
  /**
   * How often retention runs (it also runs on open and whenever a segment is rolled).
   * @default 60000
   */
  retentionCheckIntervalMs?: number;
  /** Clock for record timestamps and retention (tests). @default Date.now */
  now?: () => number;
  /** @default silentLogger */
  logger?: Logger;
}

export const EMBEDDED_EVENT_LOG_DEFAULTS = {
  partitions: 4,
  retentionMs: -1,
  segmentBytes: 64 * 1024 * 1024,
  pollIntervalMs: 500,
  retentionCheckIntervalMs: 60_000,
} as const;

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/** The options with every default applied (shared with the topic store and its writer). */
export interface ResolvedOptions {
  dataDir: string;
  partitions: number;
  retentionMs: number;
  segmentBytes: number;
  pollIntervalMs: number;
  retentionCheckIntervalMs: number;
  now: () => number;
  logger: Logger;
}

// ---------------------------------------------------------------------------------------------
// The EventLog
// ---------------------------------------------------------------------------------------------

function validateTopic(topic: string): void {
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') {
    throw new PlatformError(
      'PV_CONFIG_INVALID',
      `topic '${topic}' is invalid: use 1-249 characters of [a-zA-Z0-9._-] (not '.' or '..')`,
    );
  }
}

function resolveOptions(options: EmbeddedEventLogOptions): ResolvedOptions {
  const d = EMBEDDED_EVENT_LOG_DEFAULTS;
  const resolved: ResolvedOptions = {
    dataDir: options.dataDir,
    partitions: options.partitions ?? d.partitions,
    retentionMs: options.retentionMs ?? d.retentionMs,
    segmentBytes: options.segmentBytes ?? d.segmentBytes,
    pollIntervalMs: options.pollIntervalMs ?? d.pollIntervalMs,
    retentionCheckIntervalMs: options.retentionCheckIntervalMs ?? d.retentionCheckIntervalMs,
    now: options.now ?? Date.now,
    logger: options.logger ?? silentLogger,
  };
  const invalid = (option: string, rule: string): PlatformError =>
    new PlatformError('PV_CONFIG_INVALID', `EmbeddedEventLog option '${option}' ${rule}`);
  if (typeof resolved.dataDir !== 'string' || resolved.dataDir === '') throw invalid('dataDir', 'must be a folder path');
  if (!Number.isInteger(resolved.partitions) || resolved.partitions < 1 || resolved.partitions > 10_000) {
    throw invalid('partitions', 'must be an integer from 1 to 10000');
  }
  if (!Number.isInteger(resolved.retentionMs) || resolved.retentionMs < -1) {
    throw invalid('retentionMs', 'must be -1 (keep forever) or a number of milliseconds');
  }
  if (!Number.isInteger(resolved.segmentBytes) || resolved.segmentBytes < 1024) {
    throw invalid('segmentBytes', 'must be an integer of at least 1024');
  }
  if (!(resolved.pollIntervalMs > 0)) throw invalid('pollIntervalMs', 'must be positive');
  if (!(resolved.retentionCheckIntervalMs > 0)) throw invalid('retentionCheckIntervalMs', 'must be positive');
  return resolved;
}

export class EmbeddedEventLog implements EventLog {
  readonly kind = 'embedded' as const;
  readonly topic: string;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly stores = new Map<string, Promise<TopicStore>>();
  private readonly consumers = new Set<EmbeddedConsumer>();
  private closed = false;
  private closePromise: Promise<void> | null = null;

  constructor(options: EmbeddedEventLogOptions) {
    validateTopic(options.topic);
    this.topic = options.topic;
    this.options = resolveOptions(options);
    this.logger = this.options.logger.child({ module: 'embedded-log' });
  }

  private ensureOpen(): void {
    if (this.closed) throw closedError();
  }

  private async store(topic: string = this.topic): Promise<TopicStore> {
    this.ensureOpen();
    let store = this.stores.get(topic);
    if (store === undefined) {
      validateTopic(topic);
      store = acquireStore(topic, this.options);
      this.stores.set(topic, store);
      store.catch(() => this.stores.delete(topic));
    }
    const opened = await store;
    this.ensureOpen();
    return opened;
  }

  async ensureTopic(): Promise<void> {
    await this.store();
  }

  async append(messages: readonly LogMessage[]): Promise<void> {
    const store = await this.store();
    await store.append(messages);
  }

  async appendTo(topic: string, messages: readonly LogMessage[]): Promise<void> {
    const store = await this.store(topic);
    await store.append(messages);
  }

  async partitionCount(): Promise<number> {
    return (await this.store()).partitions.length;
  }

  async startOffsets(): Promise<Map<number, number>> {
    const store = await this.store();
    return new Map(store.partitions.map((p) => [p.id, p.startOffset]));
  }

  async endOffsets(): Promise<Map<number, number>> {
    const store = await this.store();
    return new Map(store.partitions.map((p) => [p.id, p.endOffset]));
  }

  async readRange(options: ReadRangeOptions): Promise<void> {
    const store = await this.store();
    const { fromOffset, toOffset } = options;
    const partition = store.partition(options.partition);
    if (!Number.isSafeInteger(fromOffset) || !Number.isSafeInteger(toOffset) || fromOffset > toOffset) {
      throw new RangeError(`invalid range [${fromOffset}, ${toOffset})`);
    }
    const details = {
      partition: partition.id,
      fromOffset,
      toOffset,
      startOffset: partition.startOffset,
      endOffset: partition.endOffset,
    };
    if (fromOffset < partition.startOffset) {
      throw outOfRange(`offset ${fromOffset} of partition ${partition.id} is below the retained start ${partition.startOffset}`, details);
    }
    if (toOffset > partition.endOffset) {
      throw outOfRange(`offset ${toOffset} of partition ${partition.id} is past the end ${partition.endOffset}`, details);
    }
    const cursor = new PartitionCursor(partition, fromOffset);
    try {
      let next = fromOffset;
      while (next < toOffset) {
        this.ensureOpen();
        const records = await cursor.read(toOffset, EMBEDDED_MAX_BATCH_RECORDS, Number.POSITIVE_INFINITY);
        if (records.length === 0) throw corrupt(`partition ${partition.id} ended before offset ${toOffset}`, details);
        next = records[records.length - 1]!.offset + 1;
        await options.onRecords(records);
      }
    } finally {
      await cursor.close();
    }
  }

  async consume(options: ConsumeOptions): Promise<LogConsumer> {
    const store = await this.store();
    if (store.activeGroups.has(options.groupId)) {
      throw new PlatformError(
        'PV_CONFIG_INVALID',
        `group '${options.groupId}' already has a running consumer: the embedded log has one member per group`,
      );
    }
    store.activeGroups.add(options.groupId);
    const consumer = new EmbeddedConsumer(store, options, this.options.pollIntervalMs, (c) => {
      this.consumers.delete(c);
      store.activeGroups.delete(options.groupId);
    });
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (err) {
      this.consumers.delete(consumer);
      store.activeGroups.delete(options.groupId);
      throw err;
    }
    return consumer;
  }

  async committedOffsets(groupId: string): Promise<Map<number, number>> {
    return (await this.store()).committed(groupId);
  }

  /** True while open (a local log has nothing else to ask). False after close. */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.store();
      return true;
    } catch (err) {
      this.logger.warn({ err }, 'ping failed');
      return false;
    }
  }

  /** Runs retention now on the topics this log has open; returns the number of deleted segments. */
  async applyRetention(): Promise<number> {
    const store = await this.store();
    return store.applyRetention();
  }

  /** Stops this log's consumers, waits for in-flight appends, closes files. Idempotent. */
  close(): Promise<void> {
    if (this.closePromise === null) {
      this.closed = true;
      this.closePromise = (async () => {
        await Promise.all([...this.consumers].map((c) => c.stop()));
        const stores = await Promise.allSettled(this.stores.values());
        this.stores.clear();
        for (const result of stores) {
          if (result.status === 'fulfilled') await releaseStore(result.value);
        }
      })();
    }
    return this.closePromise;
  }
}
