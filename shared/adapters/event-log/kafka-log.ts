/**
 * KafkaEventLog: the event log on Apache Kafka, through kafkajs. This facade resolves the
 * options, owns the kafkajs clients and the admin client, creates topics, and delegates to the
 * modules that hold each part; every kafkajs error becomes a PlatformError (kafka-errors.ts).
 *
 * - append: idempotent producer with acks=-1 and one request in flight; appends that arrive
 *   meanwhile are gathered into the next request (group commit); the producer is replaced after
 *   a failed request (kafka-producer.ts).
 * - the topic is created by the admin client with `retention.ms` and LogAppendTime timestamps.
 * - readRange: a throwaway consumer group with a single-partition assigner (kafka-read-range.ts).
 * - consume: a consumer group with eachBatch, manual commits, heartbeats during long batches
 *   (kafka-consumer.ts).
 */
import kafkajs from 'kafkajs';
import type { Admin, Kafka } from 'kafkajs';
import { PlatformError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../runtime/logger.ts';
import { connectClient, INITIAL_RETRY_MS, MAX_RETRY_MS, pinoLogCreator } from './kafka-client.ts';
import { joinGroup, type KafkaLogConsumer } from './kafka-consumer.ts';
import { closedError, toPlatformError } from './kafka-errors.ts';
import { KafkaLogProducer } from './kafka-producer.ts';
import { readRange, type PartitionWatermark } from './kafka-read-range.ts';
import type { ConsumeOptions, EventLog, LogConsumer, LogMessage, ReadRangeOptions } from './event-log.ts';

export { toPlatformError } from './kafka-errors.ts';
export { MAX_SEND_BYTES } from './kafka-producer.ts';

const { Kafka: KafkaClient, logLevel } = kafkajs;

export interface KafkaEventLogOptions {
  /** Seed brokers, `host:port`. */
  brokers: string[];
  topic: string;
  /** @default 'pageviews' */
  clientId?: string;
  /** Partitions of topics created by this log. @default 4 */
  partitions?: number;
  /** Replication factor of topics created by this log. @default 1 */
  replicationFactor?: number;
  /** `retention.ms` of topics created by this log; -1 keeps everything. @default -1 */
  retentionMs?: number;
  /** TCP connect timeout per attempt. @default 1000 */
  connectionTimeoutMs?: number;
  /** Timeout of one request (produce, metadata, offsets). @default 5000 */
  requestTimeoutMs?: number;
  /**
   * Retries of a failed request before the call rejects (exponential backoff from 200 ms,
   * at most 1 s apart). Keeps an unreachable broker from blocking `append` for long.
   * @default 3
   */
  retries?: number;
  /** Consumer group session timeout. @default 30000 */
  sessionTimeoutMs?: number;
  /** Consumer heartbeat interval, also used inside long batches; must be < sessionTimeoutMs. @default 3000 */
  heartbeatIntervalMs?: number;
  /** Longest a fetch waits for data (also bounds how long `stop` waits). @default 500 */
  fetchMaxWaitMs?: number;
  /** @default silentLogger */
  logger?: Logger;
}

export const KAFKA_EVENT_LOG_DEFAULTS = {
  clientId: 'pageviews',
  partitions: 4,
  replicationFactor: 1,
  retentionMs: -1,
  connectionTimeoutMs: 1000,
  requestTimeoutMs: 5000,
  retries: 3,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3000,
  fetchMaxWaitMs: 500,
} as const;

type ResolvedOptions = Required<Omit<KafkaEventLogOptions, 'topic'>>;

function resolveOptions(options: KafkaEventLogOptions): ResolvedOptions {
  const d = KAFKA_EVENT_LOG_DEFAULTS;
  const resolved: ResolvedOptions = {
    brokers: options.brokers,
    clientId: options.clientId ?? d.clientId,
    partitions: options.partitions ?? d.partitions,
    replicationFactor: options.replicationFactor ?? d.replicationFactor,
    retentionMs: options.retentionMs ?? d.retentionMs,
    connectionTimeoutMs: options.connectionTimeoutMs ?? d.connectionTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs ?? d.requestTimeoutMs,
    retries: options.retries ?? d.retries,
    sessionTimeoutMs: options.sessionTimeoutMs ?? d.sessionTimeoutMs,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? d.heartbeatIntervalMs,
    fetchMaxWaitMs: options.fetchMaxWaitMs ?? d.fetchMaxWaitMs,
    logger: options.logger ?? silentLogger,
  };
  const invalid = (option: string, rule: string): PlatformError =>
    new PlatformError('PV_CONFIG_INVALID', `KafkaEventLog option '${option}' ${rule}`);
  if (!Array.isArray(resolved.brokers) || resolved.brokers.length === 0) {
    throw invalid('brokers', "must list at least one 'host:port'");
  }
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(options.topic)) {
    throw invalid('topic', 'must be 1-249 characters of [a-zA-Z0-9._-]');
  }
  if (!Number.isInteger(resolved.partitions) || resolved.partitions < 1) throw invalid('partitions', 'must be a positive integer');
  if (!Number.isInteger(resolved.replicationFactor) || resolved.replicationFactor < 1) {
    throw invalid('replicationFactor', 'must be a positive integer');
  }
  if (!Number.isInteger(resolved.retentionMs) || resolved.retentionMs < -1) {
    throw invalid('retentionMs', 'must be -1 (keep forever) or a number of milliseconds');
  }
  if (!Number.isInteger(resolved.retries) || resolved.retries < 1) {
    throw invalid('retries', 'must be at least 1 (the idempotent producer requires retries)');
  }
  if (resolved.heartbeatIntervalMs >= resolved.sessionTimeoutMs) {
    throw invalid('heartbeatIntervalMs', `must be lower than sessionTimeoutMs (${resolved.sessionTimeoutMs}); about a third of it`);
  }
  return resolved;
}

// ---------------------------------------------------------------------------------------------
// The EventLog
// ---------------------------------------------------------------------------------------------

/** Attempts of an admin call while partition leadership settles (100, 200, 400, 800 ms apart). */
const ADMIN_METADATA_ATTEMPTS = 5;

export class KafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  readonly topic: string;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  /** Admin and consumers. */
  private readonly kafka: Kafka;
  /** The append path, on its own client: one request in flight per connection (idempotence). */
  private readonly producer: KafkaLogProducer;
  private adminPromise: Promise<Admin> | null = null;
  private readonly topicsReady = new Map<string, Promise<void>>();
  private readonly consumers = new Set<KafkaLogConsumer>();
  private closed = false;
  private closePromise: Promise<void> | null = null;

  constructor(options: KafkaEventLogOptions) {
    this.options = resolveOptions(options);
    this.topic = options.topic;
    this.logger = this.options.logger.child({ module: 'kafka-log', topic: this.topic });
    const o = this.options;
    const config = {
      clientId: o.clientId,
      brokers: o.brokers,
      connectionTimeout: o.connectionTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      retry: { retries: o.retries, initialRetryTime: INITIAL_RETRY_MS, maxRetryTime: MAX_RETRY_MS },
      logLevel: logLevel.WARN,
      logCreator: pinoLogCreator(this.logger),
    };
    this.kafka = new KafkaClient(config);
    this.producer = new KafkaLogProducer(
      new KafkaClient(config),
      o,
      () => this.ensureOpen(),
      (topic) => this.topicReady(topic),
    );
  }

  private ensureOpen(): void {
    if (this.closed) throw closedError();
  }

  private admin(): Promise<Admin> {
    if (this.adminPromise === null) {
      this.adminPromise = connectClient(this.kafka.admin(), (connecting) => {
        if (this.adminPromise === connecting) this.adminPromise = null;
      });
    }
    return this.adminPromise;
  }

  /** Runs an admin call; a transient failure drops the admin client so the next call reconnects. */
  private async withAdmin<T>(operation: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.ensureOpen();
      const adminPromise = this.admin();
      try {
        return await fn(await adminPromise);
      } catch (err) {
        const error = toPlatformError(err, operation);
        if (error.retriable && this.adminPromise === adminPromise) {
          this.adminPromise = null;
          adminPromise.then((a) => a.disconnect()).catch(() => undefined);
        }
        // Leadership or metadata on the move (a retriable protocol error such as NOT_LEADER_FOR_PARTITION
        // right after a topic was created): the broker answers, and a fresh admin with fresh metadata
        // succeeds shortly. A broker that does not answer is not retried here.
        const moving = error.retriable && typeof (error.details as { type?: unknown } | undefined)?.type === 'string';
        if (!moving || attempt >= ADMIN_METADATA_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** (attempt - 1)));
      }
    }
  }

  private createTopic(topic: string): Promise<void> {
    const o = this.options;
    return this.withAdmin(`creating topic ${topic}`, async (admin) => {
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic,
            numPartitions: o.partitions,
            replicationFactor: o.replicationFactor,
            configEntries: [
              { name: 'retention.ms', value: String(o.retentionMs) },
              { name: 'message.timestamp.type', value: 'LogAppendTime' },
            ],
          },
        ],
      });
      if (created) {
        this.logger.info({ topic, partitions: o.partitions, retentionMs: o.retentionMs }, 'topic created');
        return;
      }
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      const existing = metadata.topics[0]?.partitions.length;
      if (existing !== o.partitions) {
        this.logger.warn({ topic, existing, configured: o.partitions }, 'topic exists with another partition count');
      }
    });
  }

  /** Creates a topic once per log instance (a failure is retried by the next call). */
  private topicReady(topic: string): Promise<void> {
    let ready = this.topicsReady.get(topic);
    if (ready === undefined) {
      ready = this.createTopic(topic);
      this.topicsReady.set(topic, ready);
      ready.catch(() => {
        if (this.topicsReady.get(topic) === ready) this.topicsReady.delete(topic);
      });
    }
    return ready;
  }

  async ensureTopic(): Promise<void> {
    this.ensureOpen();
    await this.topicReady(this.topic);
  }

  append(messages: readonly LogMessage[]): Promise<void> {
    return this.producer.send(this.topic, messages);
  }

  appendTo(topic: string, messages: readonly LogMessage[]): Promise<void> {
    return this.producer.send(topic, messages);
  }

  async partitionCount(): Promise<number> {
    const metadata = await this.withAdmin('fetching topic metadata', (admin) =>
      admin.fetchTopicMetadata({ topics: [this.topic] }),
    );
    return metadata.topics[0]?.partitions.length ?? 0;
  }

  private async watermarks(): Promise<PartitionWatermark[]> {
    const offsets = await this.withAdmin('fetching topic offsets', (admin) => admin.fetchTopicOffsets(this.topic));
    return offsets
      .map((o) => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition);
  }

  async startOffsets(): Promise<Map<number, number>> {
    return new Map((await this.watermarks()).map((w) => [w.partition, w.low]));
  }

  async endOffsets(): Promise<Map<number, number>> {
    return new Map((await this.watermarks()).map((w) => [w.partition, w.high]));
  }

  async readRange(options: ReadRangeOptions): Promise<void> {
    this.ensureOpen();
    const { kafka, topic, options: settings, logger } = this;
    await readRange({ kafka, topic, settings, logger, watermarks: () => this.watermarks() }, options);
  }

  async consume(options: ConsumeOptions): Promise<LogConsumer> {
    this.ensureOpen();
    await this.topicReady(this.topic);
    const logger = this.logger.child({ groupId: options.groupId });
    return joinGroup(this.kafka, this.topic, options, this.options, logger, this.consumers);
  }

  async committedOffsets(groupId: string): Promise<Map<number, number>> {
    const topics = await this.withAdmin(`fetching offsets of group ${groupId}`, (admin) =>
      admin.fetchOffsets({ groupId, topics: [this.topic] }),
    );
    const result = new Map<number, number>();
    for (const { partition, offset } of topics.find((t) => t.topic === this.topic)?.partitions ?? []) {
      const value = Number(offset);
      if (value >= 0) result.set(partition, value);
    }
    return result;
  }

  /** True when a broker answers a metadata request; false after close. */
  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.withAdmin('ping', (admin) => admin.describeCluster());
      return true;
    } catch (err) {
      this.logger.warn({ err }, 'ping failed');
      return false;
    }
  }

  /** Stops this log's consumers, waits for in-flight appends, disconnects. Idempotent. */
  close(): Promise<void> {
    if (this.closePromise === null) {
      this.closed = true;
      this.closePromise = (async () => {
        await Promise.all([...this.consumers].map((c) => c.stop()));
        await this.producer.drained();
        const admin = this.adminPromise;
        this.adminPromise = null;
        await Promise.all([
          this.producer.disconnect(),
          admin?.then((a) => a.disconnect()).catch(() => undefined),
        ]);
      })();
    }
    return this.closePromise;
  }
}
