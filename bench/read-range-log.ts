/**
 * A KafkaEventLog whose `readRange` resolves the offsets it has consumed. Bench-side only.
 *
 * Why it exists: the product's `KafkaEventLog.readRange` runs its kafkajs consumer with
 * `eachBatchAutoResolve: false` and never calls `resolveOffset`, so after the first fetch of a
 * partition (up to 4 MiB, about 20,000 page views) every fetch returns the same records again,
 * all below the next wanted offset and skipped: the read never finishes and spins a core. The
 * batch layer's raw copy therefore cannot get through a partition larger than one fetch.
 *
 * The benchmarks use this class (a) for set-up that needs published batch views (serving), and
 * (b) for a clearly labelled "what if readRange were fixed" batch figure next to the product's
 * own attempt. Everything else is the product's KafkaEventLog. Remove it once readRange is fixed.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from 'kafkajs';
import type { KafkaMessage, PartitionAssigner } from 'kafkajs';
import type { LogRecord, ReadRangeOptions } from '../shared/event-log/index.ts';
import { KafkaEventLog, type KafkaEventLogOptions } from '../shared/event-log/index.ts';

const { Kafka, AssignerProtocol, logLevel } = kafkajs;

const CHUNK_RECORDS = 10_000;
const MAX_BYTES_PER_PARTITION = 4 * 1024 * 1024;

/** Gives the one member of a throwaway group exactly one partition. */
function onePartition(topic: string, partition: number): PartitionAssigner {
  const name = 'PvBenchOnePartition';
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
    protocol: ({ topics }) => ({ name, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) }),
  });
}

function record(message: KafkaMessage, partition: number): LogRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) headers[k] = Buffer.isBuffer(last) ? last.toString('utf8') : last;
  }
  return {
    partition,
    offset: Number(message.offset),
    key: message.key ?? null,
    value: message.value ?? Buffer.alloc(0),
    timestamp: Number(message.timestamp),
    headers,
  };
}

export class ResolvingReadRangeLog extends KafkaEventLog {
  private readonly brokerList: string[];

  constructor(options: KafkaEventLogOptions) {
    super(options);
    this.brokerList = options.brokers;
  }

  override async readRange(options: ReadRangeOptions): Promise<void> {
    const { partition, fromOffset, toOffset, onRecords } = options;
    if (fromOffset >= toOffset) return;
    const topic = this.topic;
    const kafka = new Kafka({ brokers: this.brokerList, clientId: 'pv-bench-read', logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({
      groupId: `pv-bench-read-${randomUUID()}`,
      partitionAssigners: [onePartition(topic, partition)],
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    let next = fromOffset;
    let settle!: (err?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (err) => (err === undefined ? resolve() : reject(err));
    });
    let settled = false;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      settle(err);
    };
    consumer.on(consumer.events.CRASH, (e) => finish(e.payload.error));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        // The difference from the product: consumed offsets are resolved, so the next fetch
        // starts after them.
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch, heartbeat, pause }) => {
          if (settled || batch.partition !== partition) return;
          try {
            let chunk: LogRecord[] = [];
            for (const message of batch.messages) {
              const offset = Number(message.offset);
              if (offset < next) continue;
              if (offset !== next) throw new Error(`partition ${partition} has no offset ${next}`);
              chunk.push(record(message, partition));
              next += 1;
              if (next >= toOffset) break;
              if (chunk.length >= CHUNK_RECORDS) {
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
            pause();
            finish(err);
          }
        },
      });
      consumer.seek({ topic, partition, offset: String(fromOffset) });
      await done;
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
  }
}
