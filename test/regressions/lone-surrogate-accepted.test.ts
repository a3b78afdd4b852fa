/**
 * Regression (issue #12, "Strings are valid Unicode everywhere"): an event whose pageId or
 * visitorId held a lone UTF-16 surrogate ("/x\ud800") was accepted; ClickHouse then refused the
 * row and both layers stalled, while DuckDB silently stored U+FFFD. Records with invalid UTF-8
 * bytes, produced straight into the topic, were decoded with U+FFFD and counted as valid.
 *
 * Both are now decodePageView failures, so each layer quarantines them like any invalid record:
 * the speed layer dead-letters them with their reason, the batch layer counts them in its
 * invalid-record ledger, and the valid events around them are counted by both.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runBatch } from '../../batch-layer/index.ts';
import { EmbeddedEventLog, type LogMessage, type LogRecord } from '../../shared/adapters/event-log/index.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { NOT_UNICODE_TEXT, encodePageView, pageViewKey, type PageView } from '../../shared/core/page-view.ts';
import { bucketStart } from '../../shared/core/time-buckets.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import { DEAD_LETTER_HEADERS, SpeedLayer } from '../../speed-layer/index.ts';
import { speedCountedThrough, until } from '../support/wait.ts';
import { readEmbeddedTopic } from '../support/read-log.ts';

const MIN = 60_000;
const HOUR = 3_600_000;

describe('records that are not valid Unicode text (embedded log + DuckDB)', () => {
  let dir: string;
  let log: EmbeddedEventLog;
  let store: DuckDbViewStore;
  let metrics: PlatformMetrics;
  let speed: SpeedLayer | undefined;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-unicode-'));
    log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views', partitions: 2, pollIntervalMs: 20 });
    await log.ensureTopic();
    store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
    await store.migrate();
    metrics = new PlatformMetrics();
  });
  afterEach(async () => {
    await speed?.stop().catch(() => undefined);
    speed = undefined;
    await log.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const deadLetters = (): Promise<LogRecord[]> => readEmbeddedTopic(dir, 'page-views.dead-letter');
  const counted = async (): Promise<number> => {
    const text = await metrics.registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith('pv_speed_events_total{outcome="counted"}'));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };

  it('dead-letters them in the speed layer and counts them as invalid in the batch, counting the valid events around them', async () => {
    const cutoff = bucketStart(Date.now(), 'hour');
    const t = cutoff - 30 * MIN;
    const event = (pageId: string, visitorId: string): PageView => ({ schemaVersion: 1, eventId: randomUUID(), site: 'default', pageId, visitorId, timestamp: t });
    const valid = [event('/a', 'v1'), event('/a', 'v2'), event('/caf\u00e9-\u{1f600}', 'v3')];
    /** A valid event's JSON with raw bytes in place of its pageId's last character. */
    const withBytes = (bytes: number[]): Buffer => {
      const [head, tail] = encodePageView(event('/b!', 'v9')).split('/b!') as [string, string];
      return Buffer.concat([Buffer.from(`${head}/b`), Buffer.from(bytes), Buffer.from(tail)]);
    };
    // JSON.stringify writes a lone surrogate as the escape \ud800: the record is valid UTF-8.
    const invalid: Record<string, { value: string | Buffer; detail: string }> = {
      'lone-surrogate-page': { value: encodePageView(event('/x\ud800', 'v1')), detail: `pageId: ${NOT_UNICODE_TEXT}` },
      'lone-surrogate-visitor': { value: encodePageView(event('/a', 'v\udc00')), detail: `visitorId: ${NOT_UNICODE_TEXT}` },
      'noncharacter-page': { value: encodePageView(event('/x\uffff', 'v1')), detail: `pageId: ${NOT_UNICODE_TEXT}` },
      // Before the fix these two decoded to "/b\ufffd" and were counted as valid page views.
      'bad-byte-in-page': { value: withBytes([0xff]), detail: 'not valid UTF-8' },
      'encoded-surrogate-in-page': { value: withBytes([0xed, 0xa0, 0x80]), detail: 'not valid UTF-8' },
      'bad-bytes': { value: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), detail: 'not valid UTF-8' },
    };
    expect(JSON.parse(String(invalid['lone-surrogate-page']?.value)).pageId).toBe('/x\ud800'); // the escape survives the wire
    const messages: LogMessage[] = [
      ...valid.slice(0, 2).map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })),
      ...Object.entries(invalid).map(([key, r]) => ({ key, value: r.value })),
      ...valid.slice(2).map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })),
    ];
    await log.append(messages);

    // Speed layer: catches up past the invalid records, dead-letters each with its reason.
    speed = new SpeedLayer(log, store, silentLogger, metrics, { flushIntervalMs: 20, groupId: 'speed' });
    await speed.start();
    await until('the speed layer to count every record', () => speedCountedThrough(store, messages.length));
    const dlq = new Map((await deadLetters()).map((r) => [r.key?.toString(), r]));
    expect([...dlq.keys()].sort()).toEqual(Object.keys(invalid).sort());
    for (const [key, r] of Object.entries(invalid)) {
      const letter = dlq.get(key);
      expect(letter?.headers[DEAD_LETTER_HEADERS.reason], key).toBe('invalid');
      expect(letter?.headers[DEAD_LETTER_HEADERS.detail], key).toBe(r.detail);
      expect(letter?.value, key).toEqual(Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value)); // the original bytes
    }
    expect(await counted()).toBe(valid.length);
    const speedPages = await store.speedPageTotals({ site: 'default', from: cutoff - HOUR, to: cutoff });
    expect(speedPages.sort((a, b) => a.pageId.localeCompare(b.pageId))).toEqual([
      { pageId: '/a', views: 2 },
      { pageId: '/caf\u00e9-\u{1f600}', views: 1 },
    ]);

    // Batch layer: the raw copy moves past them into the invalid-record ledger and publishes.
    const { run } = await runBatch(log, store, silentLogger, { cutoffTime: cutoff });
    expect(run).toMatchObject({
      status: 'success',
      rowsRead: messages.length,
      rowsInvalid: Object.keys(invalid).length,
      rowsCounted: valid.length,
    });
    const batchPages = await store.batchPageTotals(run.batchId, { site: 'default', from: cutoff - HOUR, to: cutoff });
    expect(batchPages.sort((a, b) => a.pageId.localeCompare(b.pageId))).toEqual(speedPages);
    expect(await store.latestBoundary()).toMatchObject({ batchId: run.batchId, cutoffTime: cutoff });
  });
});
