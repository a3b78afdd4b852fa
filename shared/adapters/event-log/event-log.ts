/**
 * The event log: the page-view topic, which is also the master dataset.
 * Implemented by KafkaEventLog (production) and EmbeddedEventLog (a durable
 * append-only log on local disk, the default). One contract suite
 * (test/contract/event-log.contract.ts) runs against both.
 *
 * Offsets are plain numbers (safe up to 2^53). `endOffsets` are exclusive:
 * the offset the next appended record of that partition will get.
 */

export interface LogMessage {
  /** Partitioning key; records with the same key land in the same partition, in order. */
  key: string | null;
  value: Buffer | string;
  /** Extra headers (used for dead-letter reasons). */
  headers?: Record<string, string>;
}

export interface LogRecord {
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer;
  /** Append (log) time in epoch ms. Not the event time. */
  timestamp: number;
  headers: Record<string, string>;
}

export interface LogBatch {
  partition: number;
  /** Records in offset order, all from `partition`. */
  records: LogRecord[];
  /** The partition's end offset (exclusive) when the batch was fetched; lag = highWatermark - last offset - 1. */
  highWatermark: number;
}

export interface ConsumeOptions {
  groupId: string;
  /**
   * Called with each batch, one partition at a time, in offset order. The batch is not
   * acknowledged until `commit` is called: a crash replays from the last commit.
   */
  eachBatch(batch: LogBatch): Promise<void>;
  /** Called when this member is given partitions (at start and after a rebalance). */
  onAssigned?(partitions: number[]): Promise<void> | void;
  /** Called when partitions are taken away (rebalance or stop). */
  onRevoked?(partitions: number[]): Promise<void> | void;
}

export interface LogConsumer {
  /** Commits the given next-offsets (exclusive) for the group. Durable when resolved. */
  commit(offsets: ReadonlyMap<number, number>): Promise<void>;
  /** Partitions currently assigned to this member. */
  assignment(): number[];
  /**
   * Stops fetching, waits for the in-flight batch, calls onRevoked (commits still work there),
   * then leaves the group. Idempotent. Do not await it inside eachBatch: it waits for that batch.
   */
  stop(): Promise<void>;
}

export interface ReadRangeOptions {
  partition: number;
  /** Inclusive. */
  fromOffset: number;
  /** Exclusive. */
  toOffset: number;
  /** Called with consecutive chunks of the range, in offset order. */
  onRecords(records: LogRecord[]): Promise<void>;
}

export interface EventLog {
  readonly kind: 'kafka' | 'embedded';
  readonly topic: string;
  /** Creates the topic (with its partitions and retention) when missing. Idempotent. */
  ensureTopic(): Promise<void>;
  /**
   * Appends messages durably: when this resolves every message is acknowledged
   * (Kafka: idempotent producer, acks=all; embedded: fsync'ed).
   * Rejects with PV_LOG_UNAVAILABLE (retriable) when the log cannot be reached.
   */
  append(messages: readonly LogMessage[]): Promise<void>;
  /** Appends to another topic of the same log (e.g. the dead-letter topic). */
  appendTo(topic: string, messages: readonly LogMessage[]): Promise<void>;
  partitionCount(): Promise<number>;
  /** Earliest retained offset per partition. */
  startOffsets(): Promise<Map<number, number>>;
  /** End offset (exclusive) per partition. */
  endOffsets(): Promise<Map<number, number>>;
  /**
   * Reads [fromOffset, toOffset) of one partition. Offsets below the retained start
   * reject with PV_OFFSET_OUT_OF_RANGE.
   */
  readRange(options: ReadRangeOptions): Promise<void>;
  /**
   * Joins a consumer group on the topic; resumes from the group's committed offsets (earliest
   * when none). Resolves after the first onAssigned has completed. A batch whose eachBatch
   * throws is delivered again (with backoff) until it succeeds or the consumer stops.
   */
  consume(options: ConsumeOptions): Promise<LogConsumer>;
  /** Committed offsets of a group (absent partitions have none). */
  committedOffsets(groupId: string): Promise<Map<number, number>>;
  /** True when the log answers a metadata request; false (never a rejection) when not, or after close. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
