/**
 * Speed vs batch against workloads with known answers (shared/workload.ts), on any pair of
 * backends: the batch views equal the exact truth; the speed views equal what the speed
 * layer's policy predicts, within their declared bounds; duplicates and late events explain
 * every difference between the two; the merged answers are batch before the boundary and
 * speed after it. The observed errors are printed per workload.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { HyperLogLog } from '../../shared/core/sketches/index.ts';
import { INTERVAL_MS, bucketStart } from '../../shared/core/time-buckets.ts';
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import { makeWorkload, type WorkloadOptions } from '../../shared/tools/workload.ts';
import { queryPageViews, visitorsWithinBound } from '../../shared/core/query/index.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { suiteName } from '../support/infra.ts';
import { speedCountedThrough, until } from '../support/wait.ts';

const HOUR = INTERVAL_MS.hour;
const LATENESS = 2 * 60_000;
const SKEW = 5 * 60_000;

export type AccuracyFactory = (partitions: number) => Promise<{ log: EventLog; store: ViewStore; cleanup: () => Promise<void> }>;

export interface AccuracyCase {
  name: string;
  options: Partial<WorkloadOptions>;
  maxExactKeys: number;
}

export const WORKLOADS: AccuracyCase[] = [
  { name: 'uniform', options: { pages: 50, pageSkew: 0, duplicateRate: 0.05, outOfOrderRate: 0.1, invalidRate: 0.01 }, maxExactKeys: 100_000 },
  { name: 'heavily skewed', options: { pages: 500, pageSkew: 1.5, duplicateRate: 0.05, lateRate: 0.02, invalidRate: 0.01, futureRate: 0.005 }, maxExactKeys: 100_000 },
  { name: 'many pages beyond the key budget', options: { pages: 3000, pageSkew: 0.8, duplicateRate: 0.02 }, maxExactKeys: 40 },
  { name: 'bursty with late data', options: { pages: 100, pageSkew: 1, burstRate: 0.5, lateRate: 0.08, outOfOrderRate: 0.1, duplicateRate: 0.03 }, maxExactKeys: 100_000 },
];


const report: string[] = [];

export function describeAccuracy(name: string, factory: AccuracyFactory, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`speed vs batch accuracy: ${name}`, options.skip), () => {
    afterAll(() => {
      if (report.length > 0) console.log(`\nspeed vs batch, ${name}:\n${report.splice(0).join('\n')}\n`);
    });

    it.each(WORKLOADS)('$name', async ({ name: workloadName, options: overrides, maxExactKeys }) => {
      const partitions = 3;
      const { log, store, cleanup } = await factory(partitions);
      let speed: SpeedLayer | null = null;
      try {
        await log.ensureTopic();
        await store.migrate();
        const now = Date.now();
        const start = bucketStart(now, 'hour') - 8 * HOUR;
        const cutoff = start + 4 * HOUR;
        const { messages, truth } = makeWorkload({
          seed: 11, events: 6000, pages: 100, visitors: 800, pageSkew: 1, start, durationMs: 6 * HOUR, cutoff,
          partitions, latenessMs: LATENESS, maxFutureSkewMs: SKEW, now, ...overrides,
        });
        for (let i = 0; i < messages.length; i += 1000) await log.append(messages.slice(i, i + 1000));

        speed = new SpeedLayer(log, store, silentLogger, new PlatformMetrics(), {
          groupId: `speed-${randomUUID()}`, flushIntervalMs: 100, maxFutureSkewMs: SKEW, maxExactKeys,
        });
        await speed.start();
        const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
        await until('the speed layer counted every record', () => speedCountedThrough(store, end), 60_000, 100);
        const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
        const site = { site: 'default', from: start, to: start + 6 * HOUR };

        // 1. Batch equals the exact truth.
        const batchHours = new Map((await store.batchViews(run.batchId, { ...site, to: cutoff }, 'hour')).map((r) => [r.bucket, r.views]));
        expect(batchHours).toEqual(truth.batchSiteHours);
        const pageTotals = new Map((await store.batchPageTotals(run.batchId, { ...site, to: cutoff })).map((r) => [r.pageId, r.views]));
        const truthPageTotals = new Map<string, number>();
        for (const [key, v] of truth.batchPageHours) truthPageTotals.set(key.split('|')[0]!, (truthPageTotals.get(key.split('|')[0]!) ?? 0) + v);
        expect(pageTotals).toEqual(truthPageTotals);
        expect(await store.batchVisitors(run.batchId, { ...site, from: bucketStart(start, 'day'), to: cutoff })).toBe(truth.batchVisitors.size);

        // 2. Speed equals its policy's prediction: site totals exactly, pages within the Count-Min bound.
        const speedHours = new Map<number, number>();
        for (const r of await store.speedViews(site)) speedHours.set(bucketStart(r.bucket, 'hour'), (speedHours.get(bucketStart(r.bucket, 'hour')) ?? 0) + r.views);
        expect(speedHours).toEqual(truth.speedSiteHours);
        const topPages = [...truth.speedPageHours].sort((a, b) => b[1] - a[1]).slice(0, 15);
        let worstPageError = 0;
        for (const [key, expected] of topPages) {
          const [pageId, hourText] = key.split('|');
          const hour = Number(hourText);
          const rows = await store.speedViews({ site: 'default', pageId: pageId!, from: hour, to: hour + HOUR });
          const got = rows.reduce((a, r) => a + r.views, 0);
          const bound = rows.reduce((a, r) => a + r.overcountBound, 0);
          expect(got, `${key}: ${got} not in [${expected}, ${expected + bound}]`).toBeGreaterThanOrEqual(expected);
          expect(got - expected).toBeLessThanOrEqual(bound);
          worstPageError = Math.max(worstPageError, (got - expected) / expected);
        }

        // 3. Redelivered duplicates explain every difference between speed and batch (late events are in both).
        for (const [hour, b] of truth.batchSiteHours) {
          expect((speedHours.get(hour) ?? 0) - (batchHours.get(hour) ?? 0)).toBe((truth.speedSiteHours.get(hour) ?? 0) - b);
        }

        // 4. Visitors: the union of the speed sketches is within 3 standard errors of the exact count.
        const sketches = await store.speedVisitorSketches({ ...site, grain: 'hour' });
        const union = HyperLogLog.union(sketches.map((s) => HyperLogLog.fromBase64(s)), 14);
        const expectedVisitors = new Set([...truth.speedVisitorsByHour.values()].flatMap((s) => [...s])).size;
        const visitorsError = (union.estimate() - expectedVisitors) / expectedVisitors;
        expect(visitorsWithinBound(union.estimate(), expectedVisitors, union.relativeStandardError)).toBe(true);

        // 5. Merged answers: batch before the boundary, speed after it.
        const merged = await queryPageViews(store, { ...site, interval: 'hour' });
        for (const point of merged.series) {
          const expected = point.bucket < cutoff ? truth.batchSiteHours.get(point.bucket) ?? 0 : truth.speedSiteHours.get(point.bucket) ?? 0;
          expect(point.views, new Date(point.bucket).toISOString()).toBe(expected);
        }

        const c = truth.counts;
        report.push(
          `  ${workloadName.padEnd(34)} events ${c.events}, duplicates ${c.duplicates}, late ${c.late}, invalid ${c.invalid}, future ${c.future} | ` +
            `batch views exact; worst page-hour overcount ${(worstPageError * 100).toFixed(2)}% (within bound); ` +
            `visitors ${union.estimate().toFixed(0)} vs ${expectedVisitors} (${(visitorsError * 100).toFixed(2)}%, 3σ = ${(3 * union.relativeStandardError * 100).toFixed(2)}%)`,
        );
      } finally {
        await speed?.stop().catch(() => undefined);
        await cleanup();
      }
    }, 120_000);
  });
}
