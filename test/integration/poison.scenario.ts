/**
 * One record the view store refuses stops nothing (invariant 11), on any pair of backends.
 * The store here is the real one behind a wrapper that refuses every row of page '/poison' (as
 * ClickHouse 18.16 refused lone surrogates before the validator kept them out): the speed
 * layer checkpoints every partition to the end of the log and dead-letters the refused row;
 * the batch run puts the refused event in its invalid-record ledger and publishes, and so does
 * the next run.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { PlatformError } from '../../shared/core/errors.ts';
import { encodePageView, pageViewKey, type PageView } from '../../shared/core/page-view.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import type { RawEventRow, SpeedCheckpoint, SpeedRows, ViewStore } from '../../shared/adapters/view-store/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { suiteName } from '../support/infra.ts';
import { until } from '../support/wait.ts';
import type { BackendFactory } from './pipeline.scenario.ts';

const HOUR = 3_600_000;
const POISON = '/poison';

/** The real store, refusing (as a store does: a non-retriable query failure) any row of page POISON. */
function refusingPoison(store: ViewStore): ViewStore {
  const refuse = (): never => {
    throw new PlatformError('PV_STORE_QUERY_FAILED', `insert failed: cannot store page ${POISON}`);
  };
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      const poisoned = (rows: SpeedRows): boolean => [...rows.pageMinutes, ...rows.visitors].some((r) => r.pageId === POISON);
      if (property === 'writeSpeedRows') {
        return async (rows: SpeedRows) => {
          if (poisoned(rows)) refuse();
          return target.writeSpeedRows(rows);
        };
      }
      if (property === 'writeSpeedFlush') {
        return async (rows: SpeedRows, checkpoints: readonly SpeedCheckpoint[]) => {
          if (poisoned(rows)) refuse();
          return target.writeSpeedFlush(rows, checkpoints);
        };
      }
      if (property === 'appendRawEvents') {
        return async (rows: readonly RawEventRow[]) => {
          if (rows.some((r) => r.pageId === POISON)) refuse();
          return target.appendRawEvents(rows);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export function describePoison(name: string, factory: BackendFactory, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`a store-refused record stops nothing: ${name}`, options.skip), () => {
    let log: EventLog;
    let store: ViewStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ log, store, cleanup } = await factory());
      await log.ensureTopic();
      await store.migrate();
    });
    afterEach(async () => {
      await cleanup();
    });

    it('the speed layer checkpoints every partition to the end and dead-letters the refused row; batch runs publish', async () => {
      const t0 = bucketStart(Date.now(), 'hour') - 2 * HOUR;
      const events: PageView[] = Array.from({ length: 400 }, (_, i) => ({
        schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId: i === 123 ? POISON : `/p${i % 4}`, visitorId: `v${i % 37}`, timestamp: t0 + i * 1000,
      }));
      await log.append(events.map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })));
      // Text that is not valid Unicode, produced straight into the topic (the collector refuses
      // both): a lone surrogate escaped in the JSON, and bytes that are not UTF-8.
      const loneSurrogate = `{"eventId":"${randomUUID()}","pageId":"/x\\ud800","visitorId":"v","timestamp":${t0}}`;
      const notUtf8 = Buffer.concat([Buffer.from(`{"eventId":"${randomUUID()}","pageId":"/a`), Buffer.from([0xff, 0xed, 0xa0, 0x80]), Buffer.from(`","visitorId":"v","timestamp":${t0}}`)]);
      await log.append([{ key: 'u1', value: loneSurrogate }, { key: 'u2', value: notUtf8 }]);
      const truth = new Map<string, number>();
      for (const e of events) if (e.pageId !== POISON) truth.set(e.pageId, (truth.get(e.pageId) ?? 0) + 1);

      const refusing = refusingPoison(store);
      const metrics = new PlatformMetrics();
      const speed = new SpeedLayer(log, refusing, silentLogger, metrics, { groupId: `speed-${randomUUID()}`, flushIntervalMs: 50 });
      await speed.start();
      const ends = await log.endOffsets();
      try {
        const total = [...ends.values()].reduce((a, b) => a + b, 0);
        await until('every partition checkpointed to the end of the log', async () => {
          const checkpoints = await store.speedCheckpoints();
          return [...ends].every(([p, end]) => end === 0 || checkpoints.get(p)?.nextOffset === end);
        }, 60_000, 50);
        expect(total).toBe(402);
        // Freshness recovers: within a minute, a new event is checkpointed within 1 s of its append.
        let freshness = Number.POSITIVE_INFINITY;
        await until('a new event checkpointed within 1 s', async () => {
          const probe: PageView = { schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId: '/probe', visitorId: 'p', timestamp: Date.now() };
          const appended = Date.now();
          await log.append([{ key: pageViewKey(probe), value: encodePageView(probe) }]);
          const target = await log.endOffsets();
          await until('the probe checkpointed', async () => {
            const checkpoints = await store.speedCheckpoints();
            return [...target].every(([p, end]) => end === 0 || (checkpoints.get(p)?.nextOffset ?? 0) >= end);
          }, 10_000, 20);
          freshness = Date.now() - appended;
          return freshness < 1000;
        }, 60_000, 100);
        console.log(`poison (${name}): freshness after the poison ${freshness} ms`);
      } finally {
        await speed.stop();
      }
      const deadLettered = async (reason: string): Promise<number> => (await metrics.speedDeadLetters.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
      const refusedCount = await deadLettered('store_refused');
      expect(refusedCount).toBeGreaterThanOrEqual(1);
      expect(await deadLettered('invalid')).toBe(2);
      for (const [pageId, views] of truth) {
        const rows = await store.speedViews({ site: 'default', pageId, from: t0, to: t0 + 2 * HOUR });
        expect(rows.reduce((a, r) => a + r.views, 0), pageId).toBe(views);
      }

      const cutoff = t0 + HOUR;
      const first = await runBatch(log, refusing, silentLogger, { cutoffTime: cutoff, insertBatchSize: 100 });
      // 400 events, the 2 records that are not Unicode text, and the probes; 1 refused + 2 invalid in the ledger.
      expect(first.run).toMatchObject({ status: 'success', rowsInvalid: 3, rowsCounted: 399 });
      const pages = await store.batchPageTotals(first.run.batchId, { site: 'default', from: t0, to: cutoff });
      expect(Object.fromEntries(pages.map((p) => [p.pageId, p.views]))).toEqual(Object.fromEntries(truth));
      const next = await runBatch(log, refusing, silentLogger, { cutoffTime: cutoff });
      expect(next.run.status).toBe('success');
      expect(next.run.rowsCounted).toBe(399);
      console.log(
        `poison (${name}): speed checkpointed all ${ends.size} partitions to the end; ${refusedCount} refused row(s) and 2 records that are not Unicode text dead-lettered; ` +
          `batch runs published, ${first.run.rowsInvalid} records in the ledger, 399 of 400 events counted`,
      );
    }, 120_000);
  });
}
