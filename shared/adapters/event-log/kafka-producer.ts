/**
 * The append path of the Kafka event log: LogMessages become kafkajs messages and go out
 * through one idempotent producer with acks=-1 and one produce request in flight.
 *
 * Group commit: appends queue in call order. While a request is in flight, the appends that
 * arrive wait; when it completes, the next request takes as many waiting appends as fit in
 * MAX_SEND_BYTES (whole appends in queue order; an append larger than what is left goes on in
 * the next request) and sends them with one `sendBatch`, whatever their topics. An append
 * resolves once the request holding its last record is acknowledged, and rejects if a request
 * holding any of its records failed; its records not yet sent are then dropped. Appends in
 * other requests are not affected.
 *
 * After a failed request the producer is replaced: kafkajs rolls its sequence numbers back on
 * failure, so a request that reached the broker but timed out would make the broker take the
 * next batch for a duplicate (or fail it out of order). A new producer id avoids both.
 * `KafkaLogProducer` owns the producer and the queue; the facade (`KafkaEventLog`) gives it the
 * client, the open check and topic creation.
 */
import kafkajs from 'kafkajs';
import type { ICustomPartitioner, Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import type { PlatformError } from '../../core/errors.ts';
import { connectClient, INITIAL_RETRY_MS, MAX_RETRY_MS } from './kafka-client.ts';
import { toPlatformError } from './kafka-errors.ts';
import type { LogMessage } from './event-log.ts';
import { murmur2 } from './partitioner.ts';

const { Partitioners } = kafkajs;

/**
 * Most bytes of messages in one produce request (estimated as in `messageBytes`), and so the
 * bound of a gathered request: at most 4096 messages (64 bytes are counted per message), about
 * 1000 page views. Well under the broker's default message.max.bytes (1 MiB), which limits each
 * partition's record batch: a request's share of any partition is at most the whole request.
 * Not larger: kafkajs groups a request's messages by partition in time quadratic in their number
 * (groupMessagesPerPartition copies the partition's array per message). With four concurrent
 * appenders of 500 page views, appends cost about 11–12 µs of CPU per event at 512 KiB and
 * 9–10 µs at 128–256 KiB.
 */
export const MAX_SEND_BYTES = 256 * 1024;

function fieldBytes(v: unknown): number {
  return v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : (v as Buffer).length;
}

/** Estimated bytes of a message in a request: key, value, headers and 64 bytes of overhead. */
function messageBytes(m: Message): number {
  let bytes = 64 + fieldBytes(m.key) + fieldBytes(m.value);
  if (m.headers !== undefined) for (const [k, v] of Object.entries(m.headers)) bytes += Buffer.byteLength(k) + fieldBytes(v);
  return bytes;
}

/**
 * kafkajs's DefaultPartitioner (Kafka's murmur2 rule) with the murmur2 of partitioner.ts:
 * the same partition for every key (kafka-producer.test.ts and embedded-log.test.ts check it),
 * without kafkajs's 64-bit Long arithmetic, which cost about 1 µs per message. Messages
 * without a key (or with a partition) go to the DefaultPartitioner itself.
 */
const keyPartitioner: ICustomPartitioner = () => {
  const fallback = Partitioners.DefaultPartitioner();
  return (args) => {
    const { key, partition } = args.message;
    if (key === null || key === undefined || (partition !== null && partition !== undefined)) return fallback(args);
    const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
    return (murmur2(bytes) & 0x7fffffff) % args.partitionMetadata.length;
  };
};

function toKafkaMessage(message: LogMessage): Message {
  const out: Message = { key: message.key, value: message.value };
  if (message.headers !== undefined) out.headers = { ...message.headers };
  return out;
}

/** An append waiting in the queue (or partly sent). */
interface PendingAppend {
  readonly topic: string;
  readonly messages: readonly Message[];
  /** Index of the first message not yet taken into a request. */
  next: number;
  /** Set when a request holding some of its records failed: it has rejected. */
  failed: boolean;
  resolve(): void;
  reject(error: PlatformError): void;
}

/** Messages [from, to) of one append, in one request. */
interface RequestPart {
  append: PendingAppend;
  from: number;
  to: number;
}

/**
 * Takes the next request from the head of the queue: messages in queue order up to `maxBytes`.
 * Fully taken appends leave the queue; a partly taken one stays at its head. A message larger
 * than `maxBytes` goes in a request of its own, so the broker refusing it fails only its append.
 */
function takeRequest(queue: PendingAppend[], maxBytes: number): RequestPart[] {
  const parts: RequestPart[] = [];
  let bytes = 0;
  while (queue.length > 0) {
    const append = queue[0]!;
    const from = append.next;
    let to = from;
    while (to < append.messages.length) {
      const b = messageBytes(append.messages[to]!);
      if (bytes > 0 && bytes + b > maxBytes) break;
      bytes += b;
      to++;
    }
    if (to > from) parts.push({ append, from, to });
    append.next = to;
    if (to < append.messages.length) break;
    queue.shift();
  }
  return parts;
}

/** The request's messages per topic, each topic's in queue order (sendBatch merges by topic). */
function topicMessagesOf(parts: readonly RequestPart[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const { append, from, to } of parts) {
    let messages = byTopic.get(append.topic);
    if (messages === undefined) {
      messages = [];
      byTopic.set(append.topic, messages);
    }
    for (let i = from; i < to; i++) messages.push(append.messages[i]!);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/** The producer settings the append path uses (resolved KafkaEventLog options). */
export interface KafkaLogProducerOptions {
  retries: number;
  requestTimeoutMs: number;
}

/** One idempotent producer, connected on first use and replaced after a failed request. */
export class KafkaLogProducer {
  private producerPromise: Promise<Producer> | null = null;
  /** Appends in call order; the head may be partly sent. */
  private readonly queue: PendingAppend[] = [];
  /** The send loop while it runs (it never rejects). */
  private loop: Promise<void> | null = null;

  constructor(
    /** The producer's client: one request in flight per connection (idempotence). */
    private readonly kafka: Pick<Kafka, 'producer'>,
    private readonly options: KafkaLogProducerOptions,
    /** Throws once the log is closed. */
    private readonly ensureOpen: () => void,
    /** Creates the topic if this log has not yet. */
    private readonly topicReady: (topic: string) => Promise<void>,
  ) {}

  private producer(): Promise<Producer> {
    if (this.producerPromise === null) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: keyPartitioner,
        retry: { retries: this.options.retries, initialRetryTime: INITIAL_RETRY_MS, maxRetryTime: MAX_RETRY_MS },
      });
      this.producerPromise = connectClient(producer, (connecting) => {
        if (this.producerPromise === connecting) this.producerPromise = null;
      });
    }
    return this.producerPromise;
  }

  private dropProducer(producerPromise: Promise<Producer>): void {
    if (this.producerPromise === producerPromise) this.producerPromise = null;
    producerPromise.then((p) => p.disconnect()).catch(() => undefined);
  }

  /**
   * Appends `messages` to `topic`: resolves once all of them are acknowledged (acks=-1), rejects
   * with a PlatformError if any of them failed (some may then be written: at least once).
   */
  async send(topic: string, messages: readonly LogMessage[]): Promise<void> {
    this.ensureOpen();
    if (messages.length === 0) return;
    const kafkaMessages = messages.map(toKafkaMessage);
    await this.topicReady(topic);
    // Queued from here on, in call order (appends to one topic wait on the same topicReady).
    this.ensureOpen();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, messages: kafkaMessages, next: 0, failed: false, resolve, reject });
      this.loop ??= this.run();
    });
  }

  private fail(append: PendingAppend, err: unknown): void {
    if (append.failed) return;
    append.failed = true;
    append.reject(toPlatformError(err, `append to ${append.topic}`));
  }

  /** Rejects every queued append (the log closed, or the producer could not connect). */
  private failQueued(err: unknown): void {
    for (const append of this.queue.splice(0)) this.fail(append, err);
  }

  /** Sends requests while appends wait; one request in flight. Never rejects. */
  private async run(): Promise<void> {
    // Yield once: the loop is registered before it can end, and appends queued in this turn join.
    await Promise.resolve();
    let parts: RequestPart[] = [];
    try {
      while (this.queue.length > 0) {
        parts = [];
        try {
          this.ensureOpen();
        } catch (err) {
          this.failQueued(err);
          break;
        }
        const producerPromise = this.producer();
        let producer: Producer;
        try {
          producer = await producerPromise;
        } catch (err) {
          // Every queued append waited for this connection: they all fail now (the caller
          // retries) rather than each waiting for a connection attempt of its own.
          this.dropProducer(producerPromise);
          this.failQueued(err);
          continue;
        }
        parts = takeRequest(this.queue, MAX_SEND_BYTES);
        try {
          await producer.sendBatch({ acks: -1, timeout: this.options.requestTimeoutMs, topicMessages: topicMessagesOf(parts) });
        } catch (err) {
          this.dropProducer(producerPromise);
          for (const part of parts) this.fail(part.append, err);
          // A partly sent append stays at the queue's head: its other records are not sent.
          if (this.queue[0]?.failed === true) this.queue.shift();
          continue;
        }
        for (const { append, to } of parts) {
          if (to === append.messages.length && !append.failed) append.resolve();
        }
      }
    } catch (err) {
      // Not expected (the steps above catch their errors); no append may be left hanging.
      for (const part of parts) this.fail(part.append, err);
      this.failQueued(err);
    } finally {
      this.loop = null;
    }
  }

  /** Resolves once the queued appends have settled (it never rejects). */
  drained(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Forgets the producer and disconnects it (errors ignored); the next send connects anew. */
  disconnect(): Promise<void> {
    const producer = this.producerPromise;
    this.producerPromise = null;
    return producer?.then((p) => p.disconnect()).catch(() => undefined) ?? Promise.resolve();
  }
}
