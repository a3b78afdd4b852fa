/**
 * The walking skeleton end to end, on any pair of backends: events go in through the
 * collector's HTTP API, the speed layer consumes them, a batch run recomputes the past,
 * and the serving API's merged answer equals the known input.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import { SpeedLayer } from '../../speed-layer/index.ts';
import { suiteName } from '../support/infra.ts';
import { servePlatform, type ServedPlatform } from '../support/platform-server.ts';
import { speedCountedThrough, until } from '../support/wait.ts';
import type { TestBackends } from '../support/backends.ts';

const HOUR = 3_600_000;

export type BackendFactory = () => Promise<TestBackends>;

interface SeriesBody {
  exactThrough: string | null;
  series: { bucket: string; views: number; exact: boolean; overcountBound?: number }[];
  total: { views: number; exact: boolean; overcountBound: number };
  partial: unknown;
}

const waitFor = (what: string, check: () => Promise<boolean>): Promise<void> => until(what, check, 60_000, 100);

export function describePipeline(name: string, factory: BackendFactory, options: { skip?: string | undefined } = {}): void {
  describe.skipIf(options.skip !== undefined)(suiteName(`pipeline end to end: ${name}`, options.skip), () => {
    let log: EventLog;
    let store: ViewStore;
    let platform: ServedPlatform;
    let base: string;
    let speed: SpeedLayer;

    beforeEach(async () => {
      platform = await servePlatform(factory);
      ({ log, store, base } = platform);
      speed = new SpeedLayer(log, store, silentLogger, new PlatformMetrics(), {
        groupId: `speed-${randomUUID()}`,
        flushIntervalMs: 100,
      });
    });

    afterEach(async () => {
      await speed.stop().catch(() => undefined);
      await platform.close();
    });

    it('merged counts equal the known input: batch before the boundary (deduplicated, late included), speed after', async () => {
      const h0 = bucketStart(Date.now(), 'hour') - 5 * HOUR;
      const cutoff = h0 + 2 * HOUR;
      const page = `/e2e/${randomUUID()}`;
      const event = (timestamp: number, eventId: string = randomUUID()) => ({ eventId, pageId: page, visitorId: 'v-e2e', timestamp });
      // One visitor: one key, one partition, so log order is the order sent.
      const dup = event(h0 + 1000);
      const inOrder = [
        ...Array.from({ length: 3 }, (_, i) => event(h0 + i * 60_000)),
        dup,
        ...Array.from({ length: 5 }, (_, i) => event(h0 + HOUR + i * 60_000)),
        ...Array.from({ length: 4 }, (_, i) => event(h0 + 2 * HOUR + i * 60_000)),
        ...Array.from({ length: 2 }, (_, i) => event(h0 + 3 * HOUR + i * 60_000)),
      ];
      const post = async (body: unknown): Promise<Response> =>
        fetch(`${base}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const accepted = await post(inOrder);
      expect(accepted.status).toBe(202);
      expect(await accepted.json()).toEqual({ accepted: inOrder.length });
      // A redelivered duplicate (twice), and an event for the first hour posted hours late.
      expect((await post(dup)).status).toBe(202);
      expect((await post(dup)).status).toBe(202);
      expect((await post(event(h0 + 30 * 60_000))).status).toBe(202);
      // An invalid record that reached the log by another way than the collector.
      await log.append([{ key: null, value: '{"not":"a page view"}' }]);
      // The collector refuses a batch with an invalid event, and writes none of it.
      const rejected = await post([event(h0), { ...event(h0), eventId: 'nope' }]);
      expect(rejected.status).toBe(400);
      expect(await rejected.json()).toMatchObject({ error: { code: 'PV_EVENT_INVALID', details: [{ index: 1 }] } });

      await speed.start();
      const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
      await waitFor('the speed layer to count every record', () => speedCountedThrough(store, end));

      // Before any batch run the speed layer answers everything: the late event too, and (it does
      // not deduplicate) the two redeliveries of `dup`.
      const query = `${base}/pages/${encodeURIComponent(page)}/views?interval=hour&from=${h0}&to=${h0 + 4 * HOUR}`;
      const before = (await (await fetch(query)).json()) as SeriesBody;
      expect(before.exactThrough).toBeNull();
      expect(before.series.map((p) => p.views)).toEqual([7, 5, 4, 2]);
      expect(before.series.every((p) => !p.exact)).toBe(true);

      const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
      expect(run).toMatchObject({ status: 'success', rowsInvalid: 1, rowsDuplicate: 2, rowsCounted: 10 });

      const after = (await (await fetch(query)).json()) as SeriesBody;
      expect(after.exactThrough).toBe(new Date(cutoff).toISOString());
      expect(after.series).toEqual([
        { bucket: new Date(h0).toISOString(), views: 5, exact: true },
        { bucket: new Date(h0 + HOUR).toISOString(), views: 5, exact: true },
        { bucket: new Date(h0 + 2 * HOUR).toISOString(), views: 4, exact: false, overcountBound: 0 },
        { bucket: new Date(h0 + 3 * HOUR).toISOString(), views: 2, exact: false, overcountBound: 0 },
      ]);
      expect(after.total).toEqual({ views: 16, exact: false, overcountBound: 0 });
      expect(after.partial).toBeNull();

      const boundary = (await (await fetch(`${base}/boundary`)).json()) as { exactThrough: string; speed: { lag: number } };
      expect(boundary).toMatchObject({ exactThrough: new Date(cutoff).toISOString(), speed: { lag: 0 } });
    });
  });
}
