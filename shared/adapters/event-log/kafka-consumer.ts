/**
 * The consumer side of the Kafka event log. `joinGroup` starts a kafkajs consumer group with
 * eachBatch, manual commits and heartbeats during long batches, behind a `KafkaLogConsumer`
 * handle that serializes onAssigned/onRevoked, fences batches of partitions this member lost,
 * and stops cleanly. Also here, shared with readRange: the conversion of kafkajs messages into
 * LogRecords, the chunk and fetch limits, the consumer config and run settings
 * (`consumerConfig`, `runConsumer`), and `singlePartitionAssigner`, which gives readRange's
 * throwaway group its one partition.
 */
import kafkajs from 'kafkajs';
import type {
  Consumer,
  ConsumerConfig,
  ConsumerCrashEvent,
  ConsumerGroupJoinEvent,
  ConsumerRunConfig,
  EachBatchPayload,
  Kafka,
  KafkaMessage,
  PartitionAssigner,
} from 'kafkajs';
import type { Logger } from '../../runtime/logger.ts';
import { INITIAL_RETRY_MS, MAX_RETRY_MS } from './kafka-client.ts';
import { toPlatformError } from './kafka-errors.ts';
import type { ConsumeOptions, LogConsumer, LogRecord } from './event-log.ts';

const { AssignerProtocol } = kafkajs;

/** Records per `eachBatch` call and per `onRecords` chunk of `readRange`. */
export const MAX_CHUNK_RECORDS = 10_000;
const MAX_BYTES_PER_PARTITION = 1024 * 1024;

/** Headers of a record that has none: one shared, frozen object instead of one per record. */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

export function toLogRecord(message: KafkaMessage, partition: number): LogRecord {
  return {
    partition,
    offset: Number(message.offset),
    key: message.key ?? null,
    value: message.value ?? EMPTY_VALUE,
    timestamp: Number(message.timestamp),
    headers: headersOf(message.headers),
  };
}

/** A record's headers as text (the last value of a repeated header); records without headers share one object. */
function headersOf(raw: KafkaMessage['headers']): Record<string, string> {
  if (raw === undefined || !hasOwnKeys(raw)) return NO_HEADERS;
  const entries: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(raw)) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last === undefined) continue;
    entries.push([name, Buffer.isBuffer(last) ? last.toString('utf8') : last]);
  }
  return entries.length === 0 ? NO_HEADERS : Object.fromEntries(entries);
}

const EMPTY_VALUE = Buffer.alloc(0);

function hasOwnKeys(value: object): boolean {
  for (const key in value) if (Object.hasOwn(value, key)) return true;
  return false;
}

/** Assigns exactly one partition of one topic to the (single) member of a throwaway group. */
export function singlePartitionAssigner(topic: string, partition: number): PartitionAssigner {
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

export class KafkaLogConsumer implements LogConsumer {
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

/** The settings of this log's kafkajs consumers (resolved KafkaEventLog options). */
export interface ConsumerSettings {
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  retries: number;
}

/**
 * The kafkajs config of a consumer of this log: group consumers restart after a crash;
 * readRange's throwaway groups do not (`restartOnFailure` false: the crash ends the read).
 */
export function consumerConfig(
  o: ConsumerSettings,
  groupId: string,
  maxWaitTimeInMs: number,
  restartOnFailure: boolean,
): ConsumerConfig {
  return {
    groupId,
    sessionTimeout: o.sessionTimeoutMs,
    heartbeatInterval: o.heartbeatIntervalMs,
    maxWaitTimeInMs,
    maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
    allowAutoTopicCreation: false,
    retry: {
      retries: o.retries,
      initialRetryTime: INITIAL_RETRY_MS,
      maxRetryTime: MAX_RETRY_MS,
      restartOnFailure: async () => restartOnFailure,
    },
  };
}

/**
 * Connects `consumer`, subscribes it to `topic` from the beginning and runs it with manual
 * commits and manual offset resolution (a batch that fails is not skipped).
 */
export async function runConsumer(
  consumer: Consumer,
  topic: string,
  run: Pick<ConsumerRunConfig, 'eachBatch' | 'partitionsConsumedConcurrently'>,
): Promise<void> {
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, ...run });
}

/**
 * Joins `options.groupId` on `topic` and resolves once the first assignment's onAssigned is
 * done. The handle is in `consumers` until it stops; a failed join stops it and rejects.
 */
export async function joinGroup(
  kafka: Kafka,
  topic: string,
  options: ConsumeOptions,
  o: ConsumerSettings & { fetchMaxWaitMs: number },
  logger: Logger,
  consumers: Set<KafkaLogConsumer>,
): Promise<LogConsumer> {
  const consumer = kafka.consumer(consumerConfig(o, options.groupId, o.fetchMaxWaitMs, true));
  const handle = new KafkaLogConsumer(consumer, topic, options, logger, o.heartbeatIntervalMs, (c) =>
    consumers.delete(c),
  );
  handle.attach();
  let crash: unknown = null;
  const removeCrashListener = consumer.on(consumer.events.CRASH, (event: ConsumerCrashEvent) => {
    crash ??= event.payload.error;
  });
  consumers.add(handle);
  try {
    await runConsumer(consumer, topic, {
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
