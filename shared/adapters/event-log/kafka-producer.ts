/**
 * The append path of the Kafka event log: LogMessages become kafkajs messages, are split into
 * sends of at most MAX_SEND_BYTES, and go out through one idempotent producer with acks=-1,
 * sends serialized. After a failed send the producer is replaced: kafkajs rolls its sequence
 * numbers back on failure, so a send that reached the broker but timed out would make the
 * broker take the next batch for a duplicate (or fail it out of order). A new producer id
 * avoids both. `KafkaLogProducer` owns the producer and the send chain; the facade
 * (`KafkaEventLog`) gives it the client, the open check and topic creation.
 */
import kafkajs from 'kafkajs';
import type { Kafka, Message, Producer } from 'kafkajs';
import { connectClient, INITIAL_RETRY_MS, MAX_RETRY_MS } from './kafka-client.ts';
import { toPlatformError } from './kafka-errors.ts';
import type { LogMessage } from './event-log.ts';

const { Partitioners } = kafkajs;

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

/** The producer settings the append path uses (resolved KafkaEventLog options). */
export interface KafkaLogProducerOptions {
  retries: number;
  requestTimeoutMs: number;
}

/** One idempotent producer, connected on first use and replaced after a failed send. */
export class KafkaLogProducer {
  private producerPromise: Promise<Producer> | null = null;
  private sendChain: Promise<unknown> = Promise.resolve();

  constructor(
    /** The producer's client: one request in flight per connection (idempotence). */
    private readonly kafka: Kafka,
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
        createPartitioner: Partitioners.DefaultPartitioner,
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

  async send(topic: string, messages: readonly LogMessage[]): Promise<void> {
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

  /** Resolves once the sends queued so far have settled (it never rejects). */
  drained(): Promise<unknown> {
    return this.sendChain;
  }

  /** Forgets the producer and disconnects it (errors ignored); the next send connects anew. */
  disconnect(): Promise<void> {
    const producer = this.producerPromise;
    this.producerPromise = null;
    return producer?.then((p) => p.disconnect()).catch(() => undefined) ?? Promise.resolve();
  }
}
