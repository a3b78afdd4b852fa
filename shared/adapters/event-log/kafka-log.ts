/**
 * KafkaEventLog: the event log on Apache Kafka, through kafkajs. The one module that talks to
 * Kafka, so every kafkajs error becomes a PlatformError here (`toPlatformError`).
 *
 * - append: one `send` per call (callers batch), idempotent producer with acks=-1, sends
 *   serialized. After a failed send the producer is replaced: kafkajs rolls its sequence numbers
 *   back on failure, so a send that reached the broker but timed out would make the broker take
 *   the next batch for a duplicate (or fail it out of order). A new producer id avoids both.
 * - the topic is created by the admin client with `retention.ms` and LogAppendTime timestamps.
 * - readRange: a throwaway consumer group (no commits, so the broker drops it on leave) with an
 *   assigner that gives it just the one partition, seeked to `fromOffset`.
 * - consume: a consumer group with eachBatch, manual commits, heartbeats during long batches.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type {
  Admin,
  Consumer,
  ConsumerCrashEvent,
  ConsumerGroupJoinEvent,
  EachBatchPayload,
  Kafka,
  KafkaMessage,
  Message,
  PartitionAssigner,
  Producer,
  logCreator,
} from 'kafkajs';
import { PlatformError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../runtime/logger.ts';
import type {
  ConsumeOptions,
  EventLog,
  LogConsumer,
  LogMessage,
  LogRecord,
  ReadRangeOptions,
} from './event-log.ts';

const {
  Kafka: KafkaClient,
  AssignerProtocol,
  Partitioners,
  logLevel,
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

/** Records per `eachBatch` call and per `onRecords` chunk of `readRange`. */
const MAX_CHUNK_RECORDS = 10_000;
const MAX_BYTES_PER_PARTITION = 4 * 1024 * 1024;
const INITIAL_RETRY_MS = 200;
const MAX_RETRY_MS = 1000;

type ResolvedOptions = Required<Omit<KafkaEventLogOptions, 'topic'>>;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

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

function closedError(): PlatformError {
  return new PlatformError('PV_LOG_CLOSED', 'event log is closed');
}

function outOfRange(message: string, details: Record<string, unknown>): PlatformError {
  return new PlatformError('PV_OFFSET_OUT_OF_RANGE', message, { details });
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** kafkajs logs go through pino. */
function pinoLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...extra } = log;
      const fields = { kafkajs: namespace, ...extra };
      // We limit producer retries on purpose (see the module comment): the producer is
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

/** Bytes of messages per producer send: well under the broker's default message.max.bytes. */
export const MAX_SEND_BYTES = 512 * 1024;

function messageBytes(m: Message): number {
  const size = (v: unknown): number => (v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : (v as Buffer).length);
  let bytes = 64 + size(m.key) + size(m.value);
  for (const [k, v] of Object.entries(m.headers ?? {})) bytes += k.length + size(v);
  return bytes;
}

export function splitByBytes(messages: Message[], maxBytes: number): Message[][] {
  const pieces: Message[][] = [];
  let piece: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const b = messageBytes(m);
    if (piece.length > 0 && bytes + b > maxBytes) {
      pieces.push(piece);
      piece = [];
      bytes = 0;
    }
    piece.push(m);
    bytes += b;
  }
  if (piece.length > 0) pieces.push(piece);
  return pieces;
}

function toKafkaMessage(message: LogMessage): Message {
  const out: Message = { key: message.key, value: message.value };
  if (message.headers !== undefined) out.headers = { ...message.headers };
  return out;
}

function toLogRecord(message: KafkaMessage, partition: number): LogRecord {
  const headers: Array<[string, string]> = [];
  for (const [name, raw] of Object.entries(message.headers ?? {})) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value === undefined) continue;
    headers.push([name, Buffer.isBuffer(value) ? value.toString('utf8') : value]);
  }
  return {
    partition,
    offset: Number(message.offset),
    key: message.key ?? null,
    value: message.value ?? Buffer.alloc(0),
    timestamp: Number(message.timestamp),
    headers: Object.fromEntries(headers),
  };
}

/** Assigns exactly one partition of one topic to the (single) member of a throwaway group. */
function singlePartitionAssigner(topic: string, partition: number): PartitionAssigner {
  const name = 'PvSinglePartition';
  return () => ({
    name,
    version: 0,
    assign: async ({ members }) =>
      members.map((member, i) => ({
        memberId: member.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: i === 0 ? { [topic]: [partition] } : {},
          userData: Buffer.alloc(0),
        }),
      })),
    protocol: ({ topics }) => ({
      name,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    }),
  });
}

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
// Consumer
// ---------------------------------------------------------------------------------------------

class KafkaLogConsumer implements LogConsumer {
  private assigned: number[] = [];
  /** Serializes onAssigned/onRevoked; batches wait for it. */
  private chain: Promise<void> = Promise.resolve();
  private assignError: unknown = null;
  private inFlight: Promise<void> | null = null;
  private stopping = false;
  private dead = false;
  private stopPromise: Promise<void> | null = null;

  constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    private readonly options: ConsumeOptions,
    private readonly logger: Logger,
    private readonly heartbeatIntervalMs: number,
    private readonly onStopped: (consumer: KafkaLogConsumer) => void,
  ) {}

  attach(): void {
    const { GROUP_JOIN, REBALANCING, CRASH } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (event: ConsumerGroupJoinEvent) => {
      const partitions = [...(event.payload.memberAssignment[this.topic] ?? [])].sort((a, b) => a - b);
      this.enqueue(async () => {
        await this.revoke();
        this.assigned = partitions;
        this.assignError = null;
        if (partitions.length === 0 || this.stopping) return;
        try {
          await this.options.onAssigned?.([...partitions]);
        } catch (err) {
          // Batches fail until a later join (kafkajs restarts the consumer) assigns successfully.
          this.assignError = err;
          this.logger.error({ err, partitions }, 'onAssigned failed');
        }
      });
    });
    this.consumer.on(REBALANCING, () => this.enqueue(() => this.revoke()));
    this.consumer.on(CRASH, (event: ConsumerCrashEvent) => {
      this.logger.error({ err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
      if (!event.payload.restart) this.dead = true;
      this.enqueue(() => this.revoke());
    });
  }

  /** Resolves once pending onAssigned/onRevoked calls are done; rejects with a first-join failure. */
  async ready(): Promise<void> {
    await this.chain;
    if (this.assignError !== null) throw this.assignError;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(task).catch((err: unknown) => this.logger.error({ err }, 'group callback failed'));
    return this.chain;
  }

  private async revoke(): Promise<void> {
    if (this.assigned.length === 0) return;
    const revoked = this.assigned;
    this.assigned = [];
    try {
      await this.options.onRevoked?.([...revoked]);
    } catch (err) {
      this.logger.error({ err, partitions: revoked }, 'onRevoked failed');
    }
  }

  async eachBatch(payload: EachBatchPayload): Promise<void> {
    await this.chain;
    if (this.assignError !== null) throw this.assignError;
    if (this.stopping || !payload.isRunning() || payload.isStale()) return;
    // Fence: a batch fetched before a rebalance may arrive after this member lost the
    // partition. It is dropped unprocessed and unresolved; the new owner consumes it.
    if (!this.assigned.includes(payload.batch.partition)) return;
    const run = this.process(payload);
    this.inFlight = run;
    try {
      await run;
    } finally {
      this.inFlight = null;
    }
  }

  private async process({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    const timer = setInterval(() => {
      heartbeat().catch((err: unknown) => this.logger.debug({ err }, 'heartbeat during a batch failed'));
    }, this.heartbeatIntervalMs);
    timer.unref();
    try {
      const partition = batch.partition;
      const highWatermark = Number(batch.highWatermark);
      for (let i = 0; i < batch.messages.length; i += MAX_CHUNK_RECORDS) {
        if (this.stopping || !this.assigned.includes(partition)) return;
        const records = batch.messages.slice(i, i + MAX_CHUNK_RECORDS).map((m) => toLogRecord(m, partition));
        await this.options.eachBatch({ partition, records, highWatermark });
        resolveOffset(String(records[records.length - 1]!.offset));
      }
    } finally {
      clearInterval(timer);
    }
  }

  async commit(offsets: ReadonlyMap<number, number>): Promise<void> {
    if (offsets.size === 0) return;
    try {
      await this.consumer.commitOffsets(
        [...offsets].map(([partition, offset]) => ({ topic: this.topic, partition, offset: String(offset) })),
      );
    } catch (err) {
      throw toPlatformError(err, `commit of group ${this.options.groupId}`);
    }
  }

  assignment(): number[] {
    return this.stopping || this.dead ? [] : [...this.assigned];
  }

  /** Stops fetching, waits for the in-flight batch, calls onRevoked, leaves the group. */
  stop(): Promise<void> {
    if (this.stopPromise === null) {
      this.stopping = true;
      this.stopPromise = (async () => {
        try {
          this.consumer.pause([{ topic: this.topic }]);
        } catch {
          // Not running (crashed or never joined): nothing to pause.
        }
        await this.inFlight?.catch(() => undefined);
        await this.enqueue(() => this.revoke());
        try {
          await this.consumer.disconnect();
        } catch (err) {
          this.logger.warn({ err }, 'consumer disconnect failed');
        }
        this.onStopped(this);
      })();
    }
    return this.stopPromise;
  }
}

// ---------------------------------------------------------------------------------------------
// The EventLog
// ---------------------------------------------------------------------------------------------

export class KafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  readonly topic: string;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  /** Admin and consumers. */
  private readonly kafka: Kafka;
  /** The producer's client: one request in flight per connection (idempotence). */
  private readonly producerKafka: Kafka;
  private adminPromise: Promise<Admin> | null = null;
  private producerPromise: Promise<Producer> | null = null;
  private sendChain: Promise<unknown> = Promise.resolve();
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
    this.producerKafka = new KafkaClient(config);
  }

  private ensureOpen(): void {
    if (this.closed) throw closedError();
  }

  private admin(): Promise<Admin> {
    if (this.adminPromise === null) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(
        () => admin,
        async (err: unknown) => {
          if (this.adminPromise === connecting) this.adminPromise = null;
          await admin.disconnect().catch(() => undefined);
          throw err;
        },
      );
      this.adminPromise = connecting;
    }
    return this.adminPromise;
  }

  /** Runs an admin call; a transient failure drops the admin client so the next call reconnects. */
  private async withAdmin<T>(operation: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
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
      throw error;
    }
  }

  private producer(): Promise<Producer> {
    if (this.producerPromise === null) {
      const producer = this.producerKafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { retries: this.options.retries, initialRetryTime: INITIAL_RETRY_MS, maxRetryTime: MAX_RETRY_MS },
      });
      const connecting = producer.connect().then(
        () => producer,
        async (err: unknown) => {
          if (this.producerPromise === connecting) this.producerPromise = null;
          await producer.disconnect().catch(() => undefined);
          throw err;
        },
      );
      this.producerPromise = connecting;
    }
    return this.producerPromise;
  }

  private dropProducer(producerPromise: Promise<Producer>): void {
    if (this.producerPromise === producerPromise) this.producerPromise = null;
    producerPromise.then((p) => p.disconnect()).catch(() => undefined);
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
    return this.send(this.topic, messages);
  }

  appendTo(topic: string, messages: readonly LogMessage[]): Promise<void> {
    return this.send(topic, messages);
  }

  private async send(topic: string, messages: readonly LogMessage[]): Promise<void> {
    this.ensureOpen();
    if (messages.length === 0) return;
    const kafkaMessages = messages.map(toKafkaMessage);
    await this.topicReady(topic);
    const run = this.sendChain.then(async () => {
      this.ensureOpen();
      const producerPromise = this.producer();
      try {
        const producer = await producerPromise;
        // The broker refuses a record batch over message.max.bytes (1 MiB by default): send in
        // pieces of at most MAX_SEND_BYTES. If a later piece fails, earlier ones are written:
        // the caller retries the whole append, and the batch layer deduplicates by eventId.
        for (const piece of splitByBytes(kafkaMessages, MAX_SEND_BYTES)) {
          await producer.send({ topic, acks: -1, timeout: this.options.requestTimeoutMs, messages: piece });
        }
      } catch (err) {
        this.dropProducer(producerPromise);
        throw toPlatformError(err, `append to ${topic}`);
      }
    });
    this.sendChain = run.catch(() => undefined);
    return run;
  }

  async partitionCount(): Promise<number> {
    const metadata = await this.withAdmin('fetching topic metadata', (admin) =>
      admin.fetchTopicMetadata({ topics: [this.topic] }),
    );
    return metadata.topics[0]?.partitions.length ?? 0;
  }

  private async watermarks(): Promise<Array<{ partition: number; low: number; high: number }>> {
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
    const { partition, fromOffset, toOffset, onRecords } = options;
    if (!Number.isSafeInteger(fromOffset) || !Number.isSafeInteger(toOffset) || fromOffset > toOffset) {
      throw new RangeError(`invalid range [${fromOffset}, ${toOffset})`);
    }
    const watermark = (await this.watermarks()).find((w) => w.partition === partition);
    if (watermark === undefined) throw new RangeError(`partition ${partition} of topic ${this.topic} does not exist`);
    const details = { partition, fromOffset, toOffset, startOffset: watermark.low, endOffset: watermark.high };
    if (fromOffset < watermark.low) {
      throw outOfRange(`offset ${fromOffset} of partition ${partition} is below the retained start ${watermark.low}`, details);
    }
    if (toOffset > watermark.high) {
      throw outOfRange(`offset ${toOffset} of partition ${partition} is past the end ${watermark.high}`, details);
    }
    if (fromOffset === toOffset) return;

    const o = this.options;
    const consumer = this.kafka.consumer({
      groupId: `${o.clientId}-read-${randomUUID()}`,
      partitionAssigners: [singlePartitionAssigner(this.topic, partition)],
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      allowAutoTopicCreation: false,
      retry: {
        retries: o.retries,
        initialRetryTime: INITIAL_RETRY_MS,
        maxRetryTime: MAX_RETRY_MS,
        restartOnFailure: async () => false,
      },
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
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
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
                await onRecords(chunk);
                chunk = [];
                await heartbeat();
              }
            }
            if (chunk.length > 0) await onRecords(chunk);
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
      consumer.seek({ topic: this.topic, partition, offset: String(fromOffset) });
      await done;
    } catch (err) {
      // A crash (or an onRecords failure) settles `done` first: report that, not a follow-up error.
      if (settled) await done;
      throw toPlatformError(err, `reading partition ${partition}`);
    } finally {
      await consumer.disconnect().catch((err: unknown) => this.logger.warn({ err }, 'read consumer disconnect failed'));
    }
  }

  async consume(options: ConsumeOptions): Promise<LogConsumer> {
    this.ensureOpen();
    await this.topicReady(this.topic);
    const o = this.options;
    const logger = this.logger.child({ groupId: options.groupId });
    const consumer = this.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: o.heartbeatIntervalMs,
      maxWaitTimeInMs: o.fetchMaxWaitMs,
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      allowAutoTopicCreation: false,
      retry: {
        retries: o.retries,
        initialRetryTime: INITIAL_RETRY_MS,
        maxRetryTime: MAX_RETRY_MS,
        restartOnFailure: async () => true,
      },
    });
    const handle = new KafkaLogConsumer(consumer, this.topic, options, logger, o.heartbeatIntervalMs, (c) =>
      this.consumers.delete(c),
    );
    handle.attach();
    let crash: unknown = null;
    const removeCrashListener = consumer.on(consumer.events.CRASH, (event: ConsumerCrashEvent) => {
      crash ??= event.payload.error;
    });
    this.consumers.add(handle);
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => handle.eachBatch(payload),
      });
      if (crash !== null) throw crash;
      await handle.ready();
    } catch (err) {
      await handle.stop();
      throw toPlatformError(err, `joining group ${options.groupId}`);
    } finally {
      removeCrashListener();
    }
    return handle;
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
        await this.sendChain;
        const producer = this.producerPromise;
        const admin = this.adminPromise;
        this.producerPromise = null;
        this.adminPromise = null;
        await Promise.all([
          producer?.then((p) => p.disconnect()).catch(() => undefined),
          admin?.then((a) => a.disconnect()).catch(() => undefined),
        ]);
      })();
    }
    return this.closePromise;
  }
}
