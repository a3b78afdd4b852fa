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

    it('schema v1 records already in the log and v2 events from both ingestion endpoints count alike in both layers, and the raw copy keeps the v2 fields', async () => {
      const now = Date.now();
      const h0 = bucketStart(now, 'hour') - 3 * HOUR;
      const cutoff = h0 + HOUR;
      const site = `mixed-${randomUUID().slice(0, 8)}.example`;
      const page = '/mixed';
      const chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
      // v1 records as an older collector wrote them, appended to the log directly.
      const v1 = (timestamp: number, i: number) => ({ schemaVersion: 1, eventId: randomUUID(), site, pageId: page, visitorId: `v1-${i}`, timestamp, referrer: 'https://www.bing.com/' });
      const v1Records = [v1(h0 + 60_000, 0), v1(h0 + 120_000, 1), v1(h0 + 180_000, 2), v1(h0 + 2 * HOUR, 3), v1(h0 + 2 * HOUR + 60_000, 4)];
      await log.append(v1Records.map((e) => ({ key: `${site}\u0001${e.visitorId}`, value: JSON.stringify(e) })));
      // v2: the product's endpoint (enriched from referrer and user agent), before and after the cutoff.
      const v2 = (timestamp: number, i: number) => ({ eventId: randomUUID(), site, pageId: page, visitorId: `v2-${i}`, timestamp, userAgent: chrome, referrer: 'https://github.com/x' });
      const posted = await fetch(`${base}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([v2(h0 + 240_000, 0), v2(h0 + 300_000, 1), v2(h0 + 2 * HOUR + 120_000, 2), v2(h0 + 2 * HOUR + 180_000, 3)]),
      });
      expect(posted.status).toBe(202);
      // v2: Plausible's endpoint (server time: after the cutoff).
      const plausible = await fetch(`${base.replace(/\/api\/v1$/, '')}/api/event`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'user-agent': chrome },
        body: JSON.stringify({ n: 'pageview', u: `https://${site}${page}?utm_source=mail`, d: site, r: null, w: 400 }),
      });
      expect(plausible.status).toBe(202);

      await speed.start();
      const end = [...(await log.endOffsets()).values()].reduce((a, b) => a + b, 0);
      await waitFor('the speed layer to count every record', () => speedCountedThrough(store, end));
      const query = `${base}/pages/${encodeURIComponent(page)}/views?site=${site}&interval=hour&from=${h0}&to=${bucketStart(now, 'hour') + HOUR}`;
      const speedOnly = (await (await fetch(query)).json()) as SeriesBody;
      expect(speedOnly.total.views).toBe(10);

      const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
      expect(run).toMatchObject({ status: 'success', rowsInvalid: 0 });
      const merged = (await (await fetch(query)).json()) as SeriesBody;
      expect(merged.exactThrough).toBe(new Date(cutoff).toISOString());
      expect(merged.series[0]).toEqual({ bucket: new Date(h0).toISOString(), views: 5, exact: true });
      expect(merged.total.views).toBe(10);

      // The raw copy (up to the cutoff's offsets: all records here) holds both versions as written.
      const rows = [];
      for (const partition of (await log.endOffsets()).keys()) rows.push(...(await store.readRawEvents({ partition, fromOffset: 0, limit: 10_000 })));
      const ours = rows.filter((r) => r.site === site);
      expect(ours).toHaveLength(10);
      const old = ours.filter((r) => r.visitorId.startsWith('v1-'));
      expect(old.map((r) => [r.schemaVersion, r.source, r.browser])).toEqual(Array.from({ length: 5 }, () => [1, undefined, undefined]));
      const enriched = ours.filter((r) => r.visitorId.startsWith('v2-'));
      expect(enriched.map((r) => [r.schemaVersion, r.source, r.browser, r.os, r.device])).toEqual(Array.from({ length: 4 }, () => [2, 'GitHub', 'Chrome', 'Windows', 'Desktop']));
      const browser = ours.filter((r) => !r.visitorId.startsWith('v'));
      expect(browser.map((r) => [r.schemaVersion, r.source, r.utmSource, r.device, r.browser])).toEqual([[2, 'mail', 'mail', 'Mobile', 'Chrome']]);
    });
  });
}
