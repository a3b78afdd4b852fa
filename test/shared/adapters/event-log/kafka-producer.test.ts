/**
 * The Kafka append path's group commit (kafka-producer.ts), against a fake kafkajs client whose
 * produce requests the test acknowledges or fails one by one: which appends share a request,
 * when each append settles, what a failure does to its neighbours, and the size bound.
 * No broker and no timers: every step waits on the fake's requests, not on time.
 */
import kafkajs from 'kafkajs';
import type { Message, ProducerBatch, ProducerConfig, RecordMetadata, TopicMessages } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { PlatformError, isPlatformError } from '../../../../shared/core/errors.ts';
import type { LogMessage } from '../../../../shared/adapters/event-log/index.ts';
import { closedError } from '../../../../shared/adapters/event-log/kafka-errors.ts';
import { KafkaLogProducer, MAX_SEND_BYTES } from '../../../../shared/adapters/event-log/kafka-producer.ts';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One produce request the producer made: the test settles it. */
interface FakeRequest {
  producer: FakeProducer;
  batch: ProducerBatch;
  ack(): void;
  fail(err: unknown): void;
}

class FakeProducer {
  disconnected = false;
  constructor(
    private readonly kafka: FakeKafka,
    readonly config: ProducerConfig,
    private readonly connectError: unknown,
  ) {}

  async connect(): Promise<void> {
    if (this.connectError !== undefined) throw this.connectError;
  }

  async disconnect(): Promise<void> {
    this.disconnected = true;
  }

  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    const settled = deferred<RecordMetadata[]>();
    this.kafka.requests.push({ producer: this, batch, ack: () => settled.resolve([]), fail: (err) => settled.reject(err) });
    this.kafka.notify();
    return settled.promise;
  }
}

class FakeKafka {
  readonly producers: FakeProducer[] = [];
  readonly requests: FakeRequest[] = [];
  /** Connect errors for the next producers, in order. */
  readonly connectErrors: unknown[] = [];
  private waiters: (() => void)[] = [];

  producer(config: ProducerConfig): FakeProducer {
    const producer = new FakeProducer(this, config, this.connectErrors.shift());
    this.producers.push(producer);
    return producer;
  }

  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once the producer has made its `n`-th request (1-based). */
  async request(n: number): Promise<FakeRequest> {
    while (this.requests.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.requests[n - 1]!;
  }
}

interface Harness {
  kafka: FakeKafka;
  producer: KafkaLogProducer;
  close(): void;
  /** Topics whose creation was asked for, in order. */
  topicsReadied: string[];
}

function harness(): Harness {
  const kafka = new FakeKafka();
  let closed = false;
  const topicsReadied: string[] = [];
  const producer = new KafkaLogProducer(
    kafka as unknown as ConstructorParameters<typeof KafkaLogProducer>[0],
    { retries: 3, requestTimeoutMs: 5000 },
    () => {
      if (closed) throw closedError();
    },
    async (topic) => {
      topicsReadied.push(topic);
    },
  );
  return { kafka, producer, topicsReadied, close: () => (closed = true) };
}

/** Tracks an append's promise: its state can be read without awaiting it. */
function track(promise: Promise<void>): { state: () => 'pending' | 'resolved' | 'rejected'; error: () => unknown; promise: Promise<void> } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  let error: unknown;
  const settled = promise.then(
    () => {
      state = 'resolved';
    },
    (err: unknown) => {
      state = 'rejected';
      error = err;
    },
  );
  return { state: () => state, error: () => error, promise: settled };
}

/** Lets every pending promise callback run (the producer only awaits promises, never timers). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function messages(prefix: string, count: number, key: string | null = prefix, valueBytes = 10): LogMessage[] {
  return Array.from({ length: count }, (_, i) => ({ key, value: `${prefix}${i}`.padEnd(valueBytes, '.') }));
}

function sent(batch: ProducerBatch): { topic: string; values: string[] }[] {
  return (batch.topicMessages ?? []).map((t: TopicMessages) => ({ topic: t.topic, values: t.messages.map((m: Message) => String(m.value)) }));
}

function valuesOf(list: readonly LogMessage[]): string[] {
  return list.map((m) => String(m.value));
}

/** The request's size as the producer counts it: key, value, headers and 64 bytes a message. */
function requestBytes(batch: ProducerBatch): number {
  let bytes = 0;
  for (const t of batch.topicMessages ?? []) {
    for (const m of t.messages) bytes += 64 + Buffer.byteLength(String(m.key ?? '')) + Buffer.byteLength(String(m.value));
  }
  return bytes;
}

describe('KafkaLogProducer group commit', () => {
  it('sends through one idempotent producer, one request in flight, acks from all replicas', async () => {
    const { kafka, producer } = harness();
    const a = track(producer.send('t', messages('a', 3)));
    const first = await kafka.request(1);
    expect(kafka.producers).toHaveLength(1);
    expect(kafka.producers[0]!.config).toMatchObject({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    expect(first.batch.acks).toBe(-1);
    expect(first.batch.timeout).toBe(5000);
    expect(sent(first.batch)).toEqual([{ topic: 't', values: ['a0........', 'a1........', 'a2........'] }]);
    await settle();
    expect(a.state()).toBe('pending');
    first.ack();
    await a.promise;
    expect(a.state()).toBe('resolved');
  });

  it('gathers the appends that arrive while a request is in flight into the next request, in call order', async () => {
    const { kafka, producer } = harness();
    const a = track(producer.send('t', messages('a', 2)));
    const first = await kafka.request(1);
    const b = track(producer.send('t', messages('b', 2)));
    const c = track(producer.send('t', messages('c', 3, 'other')));
    const d = track(producer.send('t', messages('d', 1)));
    await settle();
    // Nothing else goes out while the first request is in flight.
    expect(kafka.requests).toHaveLength(1);
    first.ack();
    const second = await kafka.request(2);
    expect(a.state()).toBe('resolved');
    expect(sent(second.batch)).toEqual([{ topic: 't', values: valuesOf([...messages('b', 2), ...messages('c', 3), ...messages('d', 1)]) }]);
    expect([b.state(), c.state(), d.state()]).toEqual(['pending', 'pending', 'pending']);
    second.ack();
    await Promise.all([b.promise, c.promise, d.promise]);
    expect([b.state(), c.state(), d.state()]).toEqual(['resolved', 'resolved', 'resolved']);
    expect(kafka.requests).toHaveLength(2);
    expect(kafka.producers).toHaveLength(1);
  });

  it('appends made in the same turn go out in one request', async () => {
    const { kafka, producer } = harness();
    const w = track(producer.send('t', messages('w', 1)));
    (await kafka.request(1)).ack();
    await w.promise;
    const a = track(producer.send('t', messages('a', 1)));
    const b = track(producer.send('t', messages('b', 1)));
    const second = await kafka.request(2);
    expect(sent(second.batch)).toEqual([{ topic: 't', values: valuesOf([...messages('a', 1), ...messages('b', 1)]) }]);
    second.ack();
    await Promise.all([a.promise, b.promise]);
    expect([a.state(), b.state()]).toEqual(['resolved', 'resolved']);
  });

  it('keeps each request within MAX_SEND_BYTES; an append resolves only with the request holding its last record', async () => {
    const { kafka, producer } = harness();
    // 40 appends of 10 messages of 4 KiB: 1.6 MiB in all, queued behind a first request.
    const head = track(producer.send('t', messages('head', 1)));
    const first = await kafka.request(1);
    const appends = Array.from({ length: 40 }, (_, i) => messages(`m${i}-`, 10, `k${i % 3}`, 4096));
    const tracked = appends.map((list) => track(producer.send('t', list)));
    await settle();
    first.ack();
    await head.promise;
    const values: string[] = [];
    for (let n = 2; values.length < 400; n++) {
      const request = await kafka.request(n);
      expect(requestBytes(request.batch)).toBeLessThanOrEqual(MAX_SEND_BYTES);
      expect(request.batch.topicMessages).toHaveLength(1);
      values.push(...sent(request.batch)[0]!.values);
      // Before this request is acknowledged, the append holding its last record is pending...
      const lastIndex = appends.findIndex((list) => list.some((m) => m.value === values[values.length - 1]));
      await settle();
      expect(tracked[lastIndex]!.state()).toBe('pending');
      request.ack();
      await settle();
      // ...and afterwards every append up to it has resolved, and none after it.
      const complete = values.length % 10 === 0 ? lastIndex : lastIndex - 1;
      expect(tracked.map((t) => t.state())).toEqual(tracked.map((_, i) => (i <= complete ? 'resolved' : 'pending')));
    }
    // Every record once, in call order; 1.6 MiB took more than three requests.
    expect(values).toEqual(appends.flatMap(valuesOf));
    expect(kafka.requests.length).toBeGreaterThan(4);
  });

  it('a failed request rejects its own appends only; the next request goes out on a new producer', async () => {
    const { kafka, producer } = harness();
    const a = track(producer.send('t', messages('a', 2)));
    const first = await kafka.request(1);
    const b = track(producer.send('t', messages('b', 2)));
    const c = track(producer.send('t', messages('c', 2)));
    await settle();
    first.ack();
    const second = await kafka.request(2);
    const d = track(producer.send('t', messages('d', 2)));
    await settle();
    second.fail(new kafkajs.KafkaJSConnectionError('Connection closed'));
    const third = await kafka.request(3);
    await settle();
    expect(a.state()).toBe('resolved');
    expect([b.state(), c.state()]).toEqual(['rejected', 'rejected']);
    for (const failed of [b, c]) {
      expect(isPlatformError(failed.error(), 'PV_LOG_UNAVAILABLE')).toBe(true);
      expect((failed.error() as PlatformError).retriable).toBe(true);
      expect((failed.error() as PlatformError).message).toContain('append to t');
    }
    // The producer that failed is disconnected; the next request uses a new one.
    expect(kafka.producers).toHaveLength(2);
    expect(kafka.producers[0]!.disconnected).toBe(true);
    expect(third.producer).toBe(kafka.producers[1]);
    expect(sent(third.batch)).toEqual([{ topic: 't', values: valuesOf(messages('d', 2)) }]);
    third.ack();
    await d.promise;
    expect(d.state()).toBe('resolved');
  });

  it('an append split over requests rejects when a later part fails, and its unsent records are dropped', async () => {
    const { kafka, producer } = harness();
    // 300 messages of 4 KiB: about 1.2 MiB, three requests.
    const big = messages('x', 300, 'x', 4096);
    const x = track(producer.send('t', big));
    const first = await kafka.request(1);
    const y = track(producer.send('t', messages('y', 2)));
    await settle();
    first.ack();
    const second = await kafka.request(2);
    second.fail(new kafkajs.KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out'));
    const third = await kafka.request(3);
    await settle();
    expect(x.state()).toBe('rejected');
    expect(isPlatformError(x.error(), 'PV_LOG_UNAVAILABLE')).toBe(true);
    // What was left of x is not sent: the next request holds y alone.
    expect(sent(third.batch)).toEqual([{ topic: 't', values: valuesOf(messages('y', 2)) }]);
    expect(sent(first.batch)[0]!.values.length + sent(second.batch)[0]!.values.length).toBeLessThan(300);
    third.ack();
    await y.promise;
    expect(y.state()).toBe('resolved');
  });

  it('a message larger than MAX_SEND_BYTES goes in a request of its own: the broker refusing it fails only its append', async () => {
    const { kafka, producer } = harness();
    const w = track(producer.send('t', messages('w', 1)));
    const first = await kafka.request(1);
    const a = track(producer.send('t', messages('a', 2)));
    const huge = track(producer.send('t', [{ key: 'h', value: 'h'.repeat(MAX_SEND_BYTES + 1) }]));
    const c = track(producer.send('t', messages('c', 2)));
    await settle();
    first.ack();
    const second = await kafka.request(2);
    expect(sent(second.batch)).toEqual([{ topic: 't', values: valuesOf(messages('a', 2)) }]);
    second.ack();
    const third = await kafka.request(3);
    expect(sent(third.batch)[0]!.values).toHaveLength(1);
    const tooLarge = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), {
      type: 'MESSAGE_TOO_LARGE',
      code: 10,
      retriable: false,
    });
    third.fail(new kafkajs.KafkaJSProtocolError(tooLarge));
    const fourth = await kafka.request(4);
    expect(sent(fourth.batch)).toEqual([{ topic: 't', values: valuesOf(messages('c', 2)) }]);
    fourth.ack();
    await Promise.all([w.promise, a.promise, huge.promise, c.promise]);
    expect([w.state(), a.state(), huge.state(), c.state()]).toEqual(['resolved', 'resolved', 'rejected', 'resolved']);
    expect(isPlatformError(huge.error(), 'PV_EVENT_INVALID')).toBe(true);
  });

  it('appends to several topics share one request, each topic in call order', async () => {
    const { kafka, producer, topicsReadied } = harness();
    const w = track(producer.send('main', messages('w', 1)));
    const first = await kafka.request(1);
    const a = track(producer.send('main', messages('a', 2)));
    const b = track(producer.send('main.dead-letter', [{ key: 'b', value: 'bad', headers: { reason: 'schema' } }]));
    const c = track(producer.send('main', messages('c', 1)));
    await settle();
    first.ack();
    const second = await kafka.request(2);
    expect(sent(second.batch)).toEqual([
      { topic: 'main', values: valuesOf([...messages('a', 2), ...messages('c', 1)]) },
      { topic: 'main.dead-letter', values: ['bad'] },
    ]);
    expect(second.batch.topicMessages![1]!.messages[0]!.headers).toEqual({ reason: 'schema' });
    second.ack();
    await Promise.all([w.promise, a.promise, b.promise, c.promise]);
    expect([w.state(), a.state(), b.state(), c.state()]).toEqual(['resolved', 'resolved', 'resolved', 'resolved']);
    expect(new Set(topicsReadied)).toEqual(new Set(['main', 'main.dead-letter']));
  });

  it('after close the request in flight completes, waiting appends reject with PV_LOG_CLOSED, and drained resolves', async () => {
    const h = harness();
    const a = track(h.producer.send('t', messages('a', 1)));
    const first = await h.kafka.request(1);
    const b = track(h.producer.send('t', messages('b', 1)));
    await settle();
    h.close();
    let drained = false;
    const draining = h.producer.drained().then(() => {
      drained = true;
    });
    await settle();
    expect(drained).toBe(false);
    first.ack();
    await draining;
    await settle();
    expect(a.state()).toBe('resolved');
    expect(b.state()).toBe('rejected');
    expect(isPlatformError(b.error(), 'PV_LOG_CLOSED')).toBe(true);
    expect(h.kafka.requests).toHaveLength(1);
    await expect(h.producer.send('t', messages('c', 1))).rejects.toSatisfy((err) => isPlatformError(err, 'PV_LOG_CLOSED'));
  });

  it('when the producer cannot connect, every waiting append rejects and the next append connects anew', async () => {
    const { kafka, producer } = harness();
    kafka.connectErrors.push(new kafkajs.KafkaJSConnectionError('Connection error: ECONNREFUSED'));
    // Two appends that do not fit in one request: both waited for the failed connection.
    const a = track(producer.send('t', messages('a', 1, 'a', MAX_SEND_BYTES / 2)));
    const b = track(producer.send('t', messages('b', 1, 'b', MAX_SEND_BYTES / 2)));
    await Promise.all([a.promise, b.promise]);
    expect([a.state(), b.state()]).toEqual(['rejected', 'rejected']);
    expect(isPlatformError(a.error(), 'PV_LOG_UNAVAILABLE')).toBe(true);
    expect((a.error() as PlatformError).retriable).toBe(true);
    expect(kafka.requests).toHaveLength(0);
    const c = track(producer.send('t', messages('c', 1)));
    const first = await kafka.request(1);
    expect(kafka.producers).toHaveLength(2);
    first.ack();
    await c.promise;
    expect(c.state()).toBe('resolved');
  });

  it("partitions keyed messages as kafkajs's DefaultPartitioner does; null keys and set partitions are left to it", async () => {
    const { kafka, producer } = harness();
    const a = track(producer.send('t', messages('a', 1)));
    (await kafka.request(1)).ack();
    await a.promise;
    const ours = kafka.producers[0]!.config.createPartitioner!();
    const reference = kafkajs.Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 4, 12]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, id) => ({ partitionId: id, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
      const args = (message: Message) => ({ topic: 't', partitionMetadata, message }) as Parameters<typeof ours>[0];
      const keys: (string | Buffer)[] = ['', 'a', 'ab', 'abc', 'abcd', 'defaultvisitor-15969', 'ünïcode-✓', 'x'.repeat(101), Buffer.from([0xff, 0x00, 0x80])];
      for (let i = 0; i < 200; i++) keys.push(`site-${i % 7}\u0001visitor-${i * 7919}`);
      for (const key of keys) expect(ours(args({ key, value: 'v' })), String(key)).toBe(reference(args({ key, value: 'v' })));
      expect(ours(args({ key: 'k', value: 'v', partition: partitions - 1 }))).toBe(partitions - 1);
      const spread = new Set(Array.from({ length: partitions * 2 }, () => ours(args({ key: null, value: 'v' }))));
      expect(spread.size).toBe(partitions);
    }
  });

  it('an empty append resolves without a request', async () => {
    const { kafka, producer } = harness();
    await producer.send('t', []);
    await settle();
    expect(kafka.requests).toHaveLength(0);
    expect(kafka.producers).toHaveLength(0);
  });
});
