/**
 * A batch run whose ClickHouse stops mid-run (Kafka + ClickHouse): the run fails with the
 * store's unavailable error within the store's deadlines (never a hang), publishes nothing,
 * and the previous boundary and views are still there when the server is back; the next run
 * counts every event exactly and marks the failed one in the history. The test starts a
 * private ClickHouse server (its own folder and ports, via scripts/infra.sh, as
 * degraded-clickhouse.test.ts does), so the shared server is never touched. The stop lands at
 * a point the run reports (the raw copy part-written, or some of the view build's visitor passes written).
 *
 * The embedded pair has no equivalent: DuckDB runs inside the batch process, so it cannot
 * stop while the run goes on (an insert that fails there is covered by raw-copy.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { RAW_COPY_WRITE_ATTEMPTS } from '../../batch-layer/raw-copy.ts';
import { KafkaEventLog } from '../../shared/adapters/event-log/index.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { STORE_UNAVAILABLE_MESSAGE } from '../../shared/adapters/view-store/clickhouse-store.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { appendBatchTestEvents } from '../support/batch-events.ts';
import { missingInfra, suiteName } from '../support/infra.ts';
import { PrivateClickHouse } from '../support/private-clickhouse.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';
import { until } from '../support/wait.ts';

const HOUR = 3_600_000;
/** Events per fill: the first run copies one fill, the second run the next. */
const COUNT = 10_000;
/** The store's deadlines in this test: short, so a hung call would show quickly. */
const READ_DEADLINE_MS = 1500;
const BULK_DEADLINE_MS = 5000;
/** The raw copy's waits between its write attempts (batch-layer/raw-copy.ts: 0.5 s, then 1 s). */
const RETRY_WAITS_MS = 1500;
const SLACK_MS = 2000;

/** Where the run hears that the server is stopped: its raw copy part-written, or its view build part-done. */
type StopPoint = 'copy' | 'build';

const { kafkaBrokers } = inject('infra');
const skipReason = missingInfra('Kafka', 'ClickHouse');

describe.skipIf(skipReason !== undefined)(suiteName('batch run with ClickHouse stopped mid-run: Kafka + ClickHouse', skipReason), () => {
  let clickhouse: PrivateClickHouse;
  let running = false;

  const infra = (action: 'start' | 'stop'): void => {
    clickhouse.run(action);
    running = action === 'start';
  };

  beforeAll(async () => {
    // Ports apart from degraded-clickhouse.test.ts's (18123-18622), which may run at the same time in `npm test`.
    clickhouse = await PrivateClickHouse.start(18623);
    running = true;
  }, 180_000);

  afterAll(async () => {
    await clickhouse?.remove();
  }, 60_000);

  it.each<StopPoint>(['copy', 'build'])(
    'stopped mid-%s: the run fails naming the store and publishes nothing; once it is back the previous views are there and the next run counts every event',
    async (at) => {
      const id = randomUUID().replace(/-/g, '');
      const log = new KafkaEventLog({ brokers: kafkaBrokers ?? [], topic: `pv-${id}`, partitions: 2, logger: silentLogger });
      const store = new ClickHouseViewStore({
        url: clickhouse.url,
        database: `t_${id}`,
        requestTimeoutMs: READ_DEADLINE_MS,
        bulkRequestTimeoutMs: BULK_DEADLINE_MS,
        pingTimeoutMs: 1000,
      });
      const t0 = bucketStart(Date.now(), 'day') - 2 * 24 * HOUR;
      const firstCutoff = t0 + HOUR;
      const secondCutoff = t0 + 3 * HOUR;
      const hours = { site: 'default', from: t0, to: t0 + 3 * HOUR };
      const passes = store.batchEventsPerPass;
      try {
        await log.ensureTopic();
        await store.migrate();
        await appendBatchTestEvents(log, 0, COUNT, t0);
        const first = await runBatch(log, store, silentLogger, { cutoffTime: firstCutoff, measureDivergence: false });
        const published = await store.batchViews(first.run.batchId, hours);
        await appendBatchTestEvents(log, COUNT, COUNT, t0);

        // Several raw-copy batches and several build passes, so the stop lands between two.
        store.batchEventsPerPass = 5000;
        let stoppedAt = '';
        let stoppedTime = 0;
        const stop = (where: StopPoint, done: number, of: number): void => {
          if (where !== at || stoppedAt !== '' || done === 0 || done >= of) return;
          infra('stop');
          stoppedAt = `${done}/${of}`;
          stoppedTime = performance.now();
        };
        const failure: unknown = await runBatch(log, store, silentLogger, {
          cutoffTime: secondCutoff,
          insertBatchSize: 1000,
          // One partition at a time: no other partition's insert is in flight when the server
          // stops (ClickHouse finishes it while shutting down, and the copy would then complete).
          copyConcurrency: 1,
          measureDivergence: false,
          onProgress: (copied, total) => stop('copy', copied, total),
          // In the visitor passes: the version's page views written, its visitors in part.
          onBuildPass: ({ kind, done, of }) => {
            if (kind === 'visitors') stop('build', done, of);
          },
        }).then(
          () => null,
          (err: unknown) => err,
        );
        const failedAfterMs = Math.round(performance.now() - stoppedTime);
        expect(stoppedAt).not.toBe('');
        expect(failure).toMatchObject({ code: 'PV_STORE_UNAVAILABLE', message: STORE_UNAVAILABLE_MESSAGE, retriable: true });
        // What failed, for the log: the copy's next insert, or the build's next statement.
        expect(String((failure as Error).cause)).toMatch(at === 'copy' ? /^Error: ClickHouse insert into raw_events: / : /^Error: ClickHouse (statement|query): /);
        // Bounded by the store's deadlines: the copy writes a batch RAW_COPY_WRITE_ATTEMPTS times, the build one statement once.
        const bound = at === 'copy' ? RAW_COPY_WRITE_ATTEMPTS * BULK_DEADLINE_MS + RETRY_WAITS_MS : BULK_DEADLINE_MS;
        expect(failedAfterMs).toBeLessThanOrEqual(bound + SLACK_MS);
        await expect(store.latestBoundary()).rejects.toMatchObject({ code: 'PV_STORE_UNAVAILABLE' });

        infra('start');
        await until('the private ClickHouse to answer again', () => store.ping(), 60_000);
        // Nothing of the failed run is published: the previous boundary and views are served until the next run.
        expect((await store.latestBoundary())?.batchId).toBe(first.run.batchId);
        expect(await store.batchViews(first.run.batchId, hours)).toEqual(published);
        // Its failure could not be recorded with the store down: the history shows it still running.
        const [failed] = await store.batchRuns(1);
        expect(failed).toMatchObject({ status: 'running' });
        expect(failed?.batchId).not.toBe(first.run.batchId);

        store.batchEventsPerPass = passes;
        const next = await runBatch(log, store, silentLogger, { cutoffTime: secondCutoff, measureDivergence: false });
        expect(next.run.status).toBe('success');
        expect(next.run.rowsCounted).toBe(2 * COUNT);
        const views = await store.batchViews(next.run.batchId, hours);
        expect(views.reduce((a, b) => a + b.views, 0)).toBe(2 * COUNT);
        const runs = await store.batchRuns(10);
        expect(runs.map((r) => r.status)).toEqual(['success', 'failed', 'success']);
        expect(runs[1]?.batchId).toBe(failed?.batchId);
        expect(runs[1]?.error).toMatch(/^abandoned: .*the store was unreachable/);
        const where = at === 'copy' ? `${stoppedAt} records copied` : `${stoppedAt} visitor passes written`;
        console.log(
          `batch with ClickHouse stopped mid-${at} (Kafka + ClickHouse): stopped with ${where}; the run failed ${failedAfterMs} ms later (${(failure as Error).message}; cause: ${String((failure as Error).cause)}); ` +
            `previous views kept; after the restart the next run counted ${next.run.rowsCounted} of ${2 * COUNT}`,
        );
      } finally {
        if (!running) infra('start');
        await store.dropDatabase().catch(() => undefined);
        await store.close();
        await log.close();
        await deleteKafkaTopics(kafkaBrokers ?? [], [`pv-${id}`]);
      }
    },
    240_000,
  );
});
