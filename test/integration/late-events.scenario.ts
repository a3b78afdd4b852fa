/**
 * Late data end to end (ARCHITECTURE.md invariant 8), on any pair of backends: events posted
 * through the collector in shuffled order, events 90 minutes late, and a client on another
 * site whose clock runs 290 s ahead. The speed views must count every event after the
 * boundary — compared minute by minute with the known input — and the batch run's compare
 * report must show no divergence for them.
 *
 * The speed layer runs with a one-minute hot window, so most of these events take the path of
 * a minute no longer in memory (merged into its stored rows at a flush); with the default
 * window of ten minutes they would mostly be counted in memory.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import { mulberry32 } from '../../shared/tools/traffic-generator.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { suiteName } from '../support/infra.ts';
import { servePlatform, type ServedPlatform } from '../support/platform-server.ts';
import { speedCountedThrough, until } from '../support/wait.ts';
import type { BackendFactory } from './pipeline.scenario.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

interface Posted {
  site: string;
  eventId: string;
  pageId: string;
  visitorId: string;
  timestamp: number;
}

export function describeLateEvents(name: string, factory: BackendFactory, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`late events are counted: ${name}`, options.skip), () => {
    let log: EventLog;
    let store: ViewStore;
    let platform: ServedPlatform;
    let base: string;
    let speed: SpeedLayer;
    let metrics: PlatformMetrics;

    beforeEach(async () => {
      platform = await servePlatform(factory);
      ({ log, store, base } = platform);
      metrics = new PlatformMetrics();
      speed = new SpeedLayer(log, store, silentLogger, metrics, { groupId: `speed-${randomUUID()}`, flushIntervalMs: 100, hotWindowMs: MIN });
    });

    afterEach(async () => {
      await speed.stop().catch(() => undefined);
      await platform.close();
    });

    const post = async (events: readonly Posted[]): Promise<void> => {
      for (let i = 0; i < events.length; i += 500) {
        const res = await fetch(`${base}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events.slice(i, i + 500)) });
        expect(res.status, await res.clone().text()).toBe(202);
      }
    };
    const checkpointed = async (): Promise<void> => {
      const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
      await until('the speed layer to count every record', () => speedCountedThrough(store, end), 60_000, 50);
    };
    /** Views per minute of a site as the speed views answer, and as the posted events say. */
    const perMinute = async (site: string, events: readonly Posted[], from: number, to: number) => {
      const got = new Map((await store.speedViews({ site, from, to })).map((b) => [b.bucket, b.views]));
      const want = new Map<number, number>();
      for (const e of events) {
        if (e.site !== site || e.timestamp < from || e.timestamp >= to) continue;
        const minute = bucketStart(e.timestamp, 'minute');
        want.set(minute, (want.get(minute) ?? 0) + 1);
      }
      return { got, want };
    };

    it('counts shuffled, 90-minute-late and clock-skewed events exactly, and the compare report shows no divergence for them', async () => {
      const now = Date.now();
      const random = mulberry32(13);
      const event = (site: string, timestamp: number, i: number): Posted => ({
        site, eventId: randomUUID(), pageId: `/p${i % 50}`, visitorId: `v${i % 700}`, timestamp,
      });
      // 15,000 events over the last 10 minutes, posted in shuffled order (an SDK flushing its
      // queue, retried beacons); between them, 40 events of another site dated 290 s ahead.
      const honest = Array.from({ length: 15_000 }, (_, i) => event('honest', now - 10 * MIN + Math.floor(random() * 10 * MIN), i));
      for (let i = honest.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [honest[i], honest[j]] = [honest[j]!, honest[i]!];
      }
      const skewed = Array.from({ length: 40 }, (_, i) => event('skewed', now + 290_000, i));
      await speed.start();
      for (let i = 0; i < honest.length; i += 1500) {
        await post(honest.slice(i, i + 1500));
        await post(skewed.slice(i / 375, i / 375 + 4));
      }
      await checkpointed();
      const shuffled = await perMinute('honest', honest, now - 11 * MIN, now + MIN);
      expect(shuffled.got).toEqual(shuffled.want);
      expect([...shuffled.got.values()].reduce((a, b) => a + b, 0)).toBe(15_000);
      const ahead = await perMinute('skewed', skewed, now, now + 10 * MIN);
      expect(ahead.got).toEqual(ahead.want);

      // Posted after the current ones: 300 events 90 minutes late.
      const late = Array.from({ length: 300 }, (_, i) => event('honest', now - 90 * MIN + (i % 60) * 1000, i));
      await post(late);
      await checkpointed();
      const ninety = await perMinute('honest', late, now - 91 * MIN, now - 88 * MIN);
      expect(ninety.got).toEqual(ninety.want);
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/^pv_speed_late_merged_total [1-9]/m);
      expect(text).not.toMatch(/^pv_speed_events_total\{outcome="before_boundary"\} [1-9]/m);

      // The next batch run covers the late ones: the compare report finds speed and batch equal.
      const cutoff = bucketStart(now, 'hour'); // the 90-minute-late events are before it
      await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
      const from = cutoff - 2 * HOUR;
      const res = await fetch(`${base}/compare?site=honest&interval=hour&from=${from}&to=${cutoff}`);
      expect(res.status).toBe(200);
      const report = (await res.json()) as { totals: { batch: number; speed: number; difference: number; withinBound: boolean } };
      const batchCount = [...honest, ...late].filter((e) => e.timestamp >= from && e.timestamp < cutoff).length;
      expect(report.totals).toMatchObject({ batch: batchCount, speed: batchCount, difference: 0, withinBound: true });
    });
  });
}
