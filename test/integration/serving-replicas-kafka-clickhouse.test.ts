/**
 * Issue #14, "Done when": two serving processes against the same Kafka topic and ClickHouse
 * database answer byte-identically, and within one flush interval of each other, after each
 * step of the pipeline's life:
 *   1. events before (and after) a cutoff, counted by the speed layer;
 *   2. a batch run publishes that cutoff as the boundary;
 *   3. more events stream after the boundary: on known and new pages, and two late ones before
 *      it (not shown: buckets before the boundary are the batch layer's);
 *   4. a second batch run publishes a newer boundary (the late ones are now counted).
 *
 * The serving processes are the product's entry point (`cli/start.ts`, ROLES=serving) in
 * processes of their own, with the same environment; the speed layer and the batch runs are in
 * this process. After each step each process is polled with a fixed set of requests (explicit
 * from/to only, never a period relative to the clock) until it shows the step's data (views
 * checked against a model of what was sent); the two first-seen times may differ by at most
 * MAX_GAP_MS. Once the speed views are settled, the same set is asked of both: bodies must be
 * byte-identical, and so must their ETags. /api/v1/boundary is not in the set: its freshness
 * field follows the clock.
 *
 * The environment both serving processes get, mirrored by the speed layer's options: the same
 * SPEED_FLUSH_INTERVAL_MS and SPEED_FLUSH_IDLE_INTERVAL_MS (FLUSH_MS: the flush interval never
 * grows when idle), SPEED_SKETCH_INTERVAL_MS=0 (the pages' visitor sketches are written every
 * flush, so nothing changes after the checkpoints cover the log), and SERVING_REFRESH_INTERVAL_MS
 * (REFRESH_MS: how often each serving process reads what changed into the views it holds).
 * The issue's bound: both answer identically within one flush interval of each other.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { KafkaEventLog } from '../../shared/adapters/event-log/index.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { encodePageView, pageViewKey, type PageView } from '../../shared/core/page-view.ts';
import { INTERVAL_MS, bucketCeil, bucketStart, type Interval } from '../../shared/core/time-buckets.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { missingInfra, suiteName } from '../support/infra.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';
import { startPlatformProcess, type PlatformProcess } from '../support/platform-process.ts';
import { until } from '../support/wait.ts';

const { kafkaBrokers, clickhouseUrl } = inject('infra');
const skipReason = missingInfra('Kafka', 'ClickHouse');

const HOUR = 3_600_000;
const MINUTE = 60_000;
const SITE = 'replicas';
const PARTITIONS = 2;
/** The speed layer's flush interval, busy and idle alike (SPEED_FLUSH_INTERVAL_MS and SPEED_FLUSH_IDLE_INTERVAL_MS). */
const FLUSH_MS = 250;
/**
 * The serving processes' refresh interval (SERVING_REFRESH_INTERVAL_MS): half the flush
 * interval (the defaults are 100 ms against 500 ms), so two processes that refresh out of step
 * are at most one refresh (and its read) apart.
 */
const REFRESH_MS = FLUSH_MS / 2;
/** How far apart the two processes may first show a step's data: one flush interval. */
const MAX_GAP_MS = FLUSH_MS;
/** Bounds of polling one process for one step: rounds, time, and the pause between rounds. */
const MAX_ROUNDS = 1500;
const STEP_TIMEOUT_MS = 20_000;
const PAUSE_MS = 10;
/** Speed views are settled when the checkpoints cover the log and have not changed for this long (late-lane merges included). */
const SETTLE_MS = 4 * FLUSH_MS;

const iso = (ms: number): string => new Date(ms).toISOString();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What was sent, and what the API must therefore answer (views only; visitors are compared between the processes). */
class Model {
  /** Every record in the log, redeliveries included, in the order sent. */
  readonly records: { eventId: string; pageId: string; timestamp: number }[] = [];
  /** The published boundary: its cutoff, and how many records the run read. */
  boundary: { cutoff: number; records: number } | null = null;

  /** Batch hours (before the boundary): distinct events the run read. Speed hours: every record (no deduplication). */
  hourViews(page: string | null, hour: number): number {
    const matches = (r: { pageId: string; timestamp: number }): boolean => (page === null || r.pageId === page) && bucketStart(r.timestamp, 'hour') === hour;
    const b = this.boundary;
    if (b !== null && hour < b.cutoff) return new Set(this.records.slice(0, b.records).filter(matches).map((r) => r.eventId)).size;
    return this.records.filter(matches).length;
  }

  /** Views per bucket of [from, to) at `interval`, from floored and to ceiled as the API does. */
  series(page: string | null, from: number, to: number, interval: Interval): number[] {
    const out: number[] = [];
    for (let bucket = bucketStart(from, interval); bucket < bucketCeil(to, interval); bucket += INTERVAL_MS[interval]) {
      let views = 0;
      for (let hour = bucket; hour < bucket + INTERVAL_MS[interval]; hour += HOUR) views += this.hourViews(page, hour);
      out.push(views);
    }
    return out;
  }

  total(page: string | null, from: number, to: number): number {
    return this.series(page, from, to, 'hour').reduce((a, b) => a + b, 0);
  }

  pages(): string[] {
    return [...new Set(this.records.map((r) => r.pageId))].sort();
  }

  exactThrough(): string | null {
    return this.boundary === null ? null : iso(this.boundary.cutoff);
  }
}

/** One request of the fixed set: the views it must show (`expected`) and where they are in its body (`shown`). */
interface Probe {
  path: string;
  shown(body: unknown): unknown;
  expected(model: Model): unknown;
}

interface SeriesBody {
  exactThrough: string | null;
  series: { views: number }[];
}
interface AggregateBody {
  exactThrough: string | null;
  results: { pageviews: { value: number } };
}
interface TimeseriesBody {
  exactThrough: string | null;
  results: { pageviews: number }[];
}
interface BreakdownBody {
  exactThrough: string | null;
  total: number;
  results: { page: string; pageviews: number }[];
}

function probes(from: number, to: number): Probe[] {
  const query = (params: Record<string, string>): string => new URLSearchParams({ site: SITE, from: iso(from), to: iso(to), ...params }).toString();
  const pageViews = (page: string, interval: Interval): Probe => ({
    path: `/api/v1/pages/${encodeURIComponent(page)}/views?${query({ interval })}`,
    shown: (body) => ({ exactThrough: (body as SeriesBody).exactThrough, views: (body as SeriesBody).series.map((p) => p.views) }),
    expected: (m) => ({ exactThrough: m.exactThrough(), views: m.series(page, from, to, interval) }),
  });
  const aggregate = (page: string | null): Probe => ({
    path: `/api/v1/stats/aggregate?${query({ metrics: 'pageviews,visitors', ...(page === null ? {} : { page }) })}`,
    shown: (body) => ({ exactThrough: (body as AggregateBody).exactThrough, pageviews: (body as AggregateBody).results.pageviews.value }),
    expected: (m) => ({ exactThrough: m.exactThrough(), pageviews: m.total(page, from, to) }),
  });
  const timeseries = (interval: Interval): Probe => ({
    path: `/api/v1/stats/timeseries?${query({ interval, metrics: 'pageviews,visitors' })}`,
    shown: (body) => ({ exactThrough: (body as TimeseriesBody).exactThrough, pageviews: (body as TimeseriesBody).results.map((p) => p.pageviews) }),
    expected: (m) => ({ exactThrough: m.exactThrough(), pageviews: m.series(null, from, to, interval) }),
  });
  const breakdown: Probe = {
    path: `/api/v1/stats/breakdown?${query({ limit: '10', metrics: 'pageviews' })}`,
    shown: (body) => {
      const b = body as BreakdownBody;
      return { exactThrough: b.exactThrough, total: b.total, pages: Object.fromEntries(b.results.map((r) => [r.page, r.pageviews])) };
    },
    expected: (m) => {
      const pages = Object.fromEntries(m.pages().map((p) => [p, m.total(p, from, to)]).filter(([, views]) => views !== 0));
      return { exactThrough: m.exactThrough(), total: Object.keys(pages).length, pages };
    },
  };
  return [
    pageViews('/a', 'hour'),
    pageViews('/a', 'day'),
    pageViews('/c', 'hour'),
    aggregate(null),
    aggregate('/a'),
    timeseries('hour'),
    timeseries('day'),
    breakdown,
  ];
}

interface Answer {
  path: string;
  status: number;
  etag: string | null;
  text: string;
}

/**
 * When a process first showed a step's data, as its polls saw it: after the start of its last
 * round that did not show it (`lastMiss`, null when the first round did), and by the end of the
 * first round that did (`hitEnd`). performance.now() times.
 */
interface Sighting {
  lastMiss: number | null;
  hitStart: number;
  hitEnd: number;
  rounds: number;
}

/**
 * The gap between the moments two processes first showed the data, as far as their polls prove
 * it: the one showed it by `hitEnd`, the other not before `lastMiss`. Polling cannot inflate it,
 * so a slow round never fails the test; a real gap larger than the allowed one plus a round does.
 */
function provenGap(x: Sighting, y: Sighting): number {
  return Math.max(0, (y.lastMiss ?? Number.NEGATIVE_INFINITY) - x.hitEnd, (x.lastMiss ?? Number.NEGATIVE_INFINITY) - y.hitEnd);
}

async function ask(server: PlatformProcess, set: readonly Probe[]): Promise<Answer[]> {
  return Promise.all(
    set.map(async ({ path }) => {
      const res = await fetch(`${server.base}${path}`, { signal: AbortSignal.timeout(5000) });
      return { path, status: res.status, etag: res.headers.get('etag'), text: await res.text() };
    }),
  );
}

/** What differs between the answers and the model; empty when they show it. */
function mismatches(answers: readonly Answer[], set: readonly Probe[], model: Model): string[] {
  return answers.flatMap((answer, i) => {
    const probe = set[i]!;
    if (answer.status !== 200) return [`${answer.path}: status ${answer.status} ${answer.text.slice(0, 200)}`];
    const shown = probe.shown(JSON.parse(answer.text));
    const expected = probe.expected(model);
    return isDeepStrictEqual(shown, expected) ? [] : [`${answer.path}: shows ${JSON.stringify(shown)}, expected ${JSON.stringify(expected)}`];
  });
}

describe.skipIf(skipReason !== undefined)(suiteName('serving replicas on Kafka + ClickHouse: two serving processes answer alike', skipReason), () => {
  const id = randomUUID().replace(/-/g, '');
  const topic = `pv-${id}`;
  const database = `t_${id}`;
  const replicas = new Map<string, PlatformProcess>();
  let log: KafkaEventLog;
  let store: ClickHouseViewStore;
  let speed: SpeedLayer;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: kafkaBrokers ?? [], topic, partitions: PARTITIONS, logger: silentLogger });
    await log.ensureTopic();
    store = new ClickHouseViewStore({ url: clickhouseUrl ?? '', database });
    await store.migrate();
    // The same environment for both: only their ports differ (PORT=0).
    const env = {
      ROLES: 'serving',
      KAFKA_BROKERS: (kafkaBrokers ?? []).join(','),
      KAFKA_TOPIC: topic,
      KAFKA_PARTITIONS: String(PARTITIONS),
      CLICKHOUSE_URL: clickhouseUrl ?? '',
      CLICKHOUSE_DATABASE: database,
      SERVING_REFRESH_INTERVAL_MS: String(REFRESH_MS),
      SPEED_FLUSH_INTERVAL_MS: String(FLUSH_MS),
      SPEED_FLUSH_IDLE_INTERVAL_MS: String(FLUSH_MS),
      SPEED_SKETCH_INTERVAL_MS: '0',
      LOG_LEVEL: 'warn',
    };
    await Promise.all(
      ['A', 'B'].map(async (name) => {
        replicas.set(name, await startPlatformProcess({ name: `serving ${name}`, env, readyTimeoutMs: 60_000 }));
      }),
    );
    speed = new SpeedLayer(log, store, silentLogger, new PlatformMetrics(), {
      groupId: `speed-${id}`,
      flushIntervalMs: FLUSH_MS,
      flushIdleIntervalMs: FLUSH_MS,
      sketchIntervalMs: 0,
    });
    await speed.start();
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...replicas.values()].map((p) => p.stop()));
    await speed?.stop().catch(() => undefined);
    await log?.close();
    await deleteKafkaTopics(kafkaBrokers ?? [], [topic, `${topic}.dead-letter`, `${topic}.batch-control`]);
    await store?.dropDatabase();
    await store?.close();
  }, 60_000);

  it('after each step (speed counts, a batch publish, streamed and late events, a newer publish) both answer byte-identically, within one flush interval of each other', async () => {
    const a = replicas.get('A')!;
    const b = replicas.get('B')!;
    const model = new Model();
    const now = Date.now();
    const h = bucketStart(now, 'hour'); // the current hour at the start
    const h0 = h - 4 * HOUR;
    const firstCutoff = h - 2 * HOUR;
    const secondCutoff = h; // never in the future
    // Hours h0 … h+1 (the test may cross an hour); day requests cover the days they touch.
    const set = probes(h0, h + 2 * HOUR);
    // The site's aggregate changes at every step: one request, so the first sighting is timed finely.
    const probe = set.find((p) => p.path.startsWith('/api/v1/stats/aggregate?') && !p.path.includes('page='))!;

    let visitor = 0;
    const event = (pageId: string, timestamp: number): PageView => ({ schemaVersion: 1, eventId: randomUUID(), site: SITE, pageId, visitorId: `v${visitor++ % 7}`, timestamp });
    /** Into the model first (the polls look for a step's final state), then into the log by `stream`. */
    const expectSent = (chunks: PageView[][]): PageView[][] => {
      for (const events of chunks) model.records.push(...events.map(({ eventId, pageId, timestamp }) => ({ eventId, pageId, timestamp })));
      return chunks;
    };
    /** Appends the chunks in order, FLUSH_MS / 2 apart: the speed layer flushes some of them separately. */
    const stream = async (chunks: PageView[][]): Promise<void> => {
      for (const [i, events] of chunks.entries()) {
        if (i > 0) await sleep(FLUSH_MS / 2);
        await log.append(events.map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })));
      }
    };
    const at = (hour: number, minutes: number[]): number[] => minutes.map((m) => hour + m * MINUTE + 7_000);
    const logEnd = async (): Promise<number> => [...(await log.endOffsets()).values()].reduce((x, y) => x + y, 0);

    /** Polls one process with `probes`, one round at a time, until it shows the model (bounded by rounds and time). */
    const pollUntilShown = async (server: PlatformProcess, name: string, probes: readonly Probe[], step: string): Promise<Sighting> => {
      const started = performance.now();
      let lastMiss: number | null = null;
      let last: string[] = [];
      for (let round = 1; round <= MAX_ROUNDS && performance.now() - started < STEP_TIMEOUT_MS; round++) {
        const roundStart = performance.now();
        last = mismatches(await ask(server, probes), probes, model);
        if (last.length === 0) return { lastMiss, hitStart: roundStart, hitEnd: performance.now(), rounds: round };
        lastMiss = roundStart;
        await sleep(PAUSE_MS);
      }
      throw new Error(`${step}: serving ${name} did not show the step's data within ${STEP_TIMEOUT_MS} ms / ${MAX_ROUNDS} rounds:\n  ${last.join('\n  ')}\nits output:\n  ${server.tail()}`);
    };

    /** The checkpoints cover the log and have not changed for SETTLE_MS: speed views are final for this step. */
    const speedSettled = async (): Promise<void> => {
      const end = await logEnd();
      let seen = { version: -1, since: 0 };
      await until(
        `the speed layer to count all ${end} records and settle`,
        async () => {
          const checkpoints = [...(await store.speedCheckpoints()).values()];
          const version = Math.max(0, ...checkpoints.map((c) => c.version));
          if (version !== seen.version) seen = { version, since: performance.now() };
          return checkpoints.reduce((sum, c) => sum + c.nextOffset, 0) === end && performance.now() - seen.since >= SETTLE_MS;
        },
        20_000,
        50,
      );
    };

    const timings: string[] = [];
    /** Both processes first show the step's data: the quick probe, then the whole set; the gaps are asserted. */
    const bothShow = async (step: string, what: string, probes: readonly Probe[], t0: number): Promise<void> => {
      const [x, y] = await Promise.all([pollUntilShown(a, 'A', probes, step), pollUntilShown(b, 'B', probes, step)]);
      const gap = provenGap(x, y);
      const line =
        `${step}, ${what}: A after ${Math.round(x.hitStart - t0)} ms (${x.rounds} rounds), B after ${Math.round(y.hitStart - t0)} ms (${y.rounds} rounds); ` +
        `gap ${Math.round(Math.abs(x.hitStart - y.hitStart))} ms between the rounds that first showed it, at least ${Math.round(gap)} ms for sure`;
      timings.push(line);
      expect(gap, `${line}; allowed ${MAX_GAP_MS} ms (one flush interval; refresh every ${REFRESH_MS} ms)`).toBeLessThanOrEqual(MAX_GAP_MS);
    };
    /**
     * One step: both processes are polled from before `action` starts (as clients that keep
     * asking would), until each shows the model's state after it; then, once the speed views are
     * settled, their answers to the whole set are compared byte for byte.
     */
    const step = async (name: string, action: () => Promise<void>): Promise<void> => {
      const t0 = performance.now();
      await Promise.all([bothShow(name, 'the aggregate', [probe], t0), action()]);
      await bothShow(name, `all ${set.length} requests`, set, t0);
      await speedSettled();
      const [answersA, answersB] = await Promise.all([ask(a, set), ask(b, set)]);
      expect(mismatches(answersA, set, model), `${name}: serving A`).toEqual([]);
      for (const [i, answerA] of answersA.entries()) {
        const answerB = answersB[i]!;
        expect(answerB.text, `${name}: ${answerA.path} from B`).toBe(answerA.text);
        expect(answerA.etag, `${name}: ${answerA.path} has an ETag`).not.toBeNull();
        expect(answerB.etag, `${name}: ETag of ${answerA.path} from B`).toBe(answerA.etag);
      }
    };

    // 1. Events before the first cutoff (one of them redelivered) and after it, counted by the speed layer.
    const first = [
      ...at(h0, [0, 1, 2]).map((t) => event('/a', t)),
      ...at(h0 + HOUR, [5, 6]).map((t) => event('/a', t)),
      ...at(h0 + 2 * HOUR, [10, 11]).map((t) => event('/a', t)),
      ...at(h0 + 3 * HOUR, [3]).map((t) => event('/a', t)),
      ...at(h0, [30, 31]).map((t) => event('/b', t)),
      ...at(h0 + HOUR, [40]).map((t) => event('/b', t)),
      ...at(h0 + 3 * HOUR, [20, 21]).map((t) => event('/b', t)),
    ];
    // The redelivery: the speed layer counts it, the batch layer once.
    const stepOne = expectSent([first, [first[0]!]]);
    await step('step 1 (speed layer only)', () => stream(stepOne));

    // 2. A batch run publishes the first boundary.
    model.boundary = { cutoff: firstCutoff, records: model.records.length };
    await step('step 2 (first boundary published)', async () => {
      const { run } = await runBatch(log, store, silentLogger, { cutoffTime: firstCutoff });
      expect(run).toMatchObject({ status: 'success', cutoffTime: firstCutoff, rowsDuplicate: 1 });
    });

    // 3. Events stream after the boundary: known and new pages, recent minutes (the speed layer's
    //    hot window) and older ones, and two late events before the boundary (not shown yet).
    const stepThree = expectSent([
      [...at(firstCutoff, [15, 16]).map((t) => event('/a', t)), event('/c', firstCutoff + HOUR + 9 * MINUTE)],
      [event('/a', Date.now() - 3_000), event('/c', Date.now() - 2_000), event('/d', Date.now() - 1_000)],
      [event('/a', h0 + 50 * MINUTE), event('/b', h0 + HOUR + 55 * MINUTE)],
      [event('/b', Date.now() - 500), event('/c', Date.now() - 400)],
    ]);
    await step('step 3 (events streamed after the boundary, two late ones before it)', () => stream(stepThree));

    // 4. A second batch run publishes a newer boundary: the late events are counted now.
    model.boundary = { cutoff: secondCutoff, records: model.records.length };
    await step('step 4 (newer boundary published)', async () => {
      const { run } = await runBatch(log, store, silentLogger, { cutoffTime: secondCutoff });
      expect(run).toMatchObject({ status: 'success', cutoffTime: secondCutoff, rowsDuplicate: 1 });
    });

    console.log(`[serving replicas] allowed gap ${MAX_GAP_MS} ms (one flush interval; refresh every ${REFRESH_MS} ms)\n  ${timings.join('\n  ')}`);
  }, 90_000);
});
