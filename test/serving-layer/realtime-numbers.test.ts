/**
 * The realtime numbers (the stream's messages) when a batch run's cutoff falls inside the
 * realtime window: minute buckets exist only from the boundary on, so page views count from it
 * and say which minutes they leave out. Before, every computation failed (a 400 of the query
 * module) and the stream sent nothing for five minutes after such a run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ViewStore } from '../../shared/adapters/view-store/index.ts';
import { realtimeNumbers } from '../../serving-layer/realtime-feed.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';
import { writeCheckpointedSpeedRows } from '../support/speed-rows.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** A batch boundary on an hour; the window at 2.5 minutes after it reaches 3 minutes before it. */
const CUTOFF = Date.UTC(2026, 10, 30, 14);
const NOW = CUTOFF + 2.5 * MIN;

let backends: TestBackends;
const versioned = (store: ViewStore) => Object.assign(Object.create(store) as ViewStore, { version: 'v' });

beforeAll(async () => {
  backends = await embeddedBackends();
  const { store } = backends;
  await store.migrate();
  await store.buildBatchViews('run', { cutoffTime: CUTOFF, endOffsets: new Map() });
  await store.recordBatchRun({
    batchId: 'run', status: 'success', startedAt: 1, finishedAt: 2, cutoffTime: CUTOFF, endOffsets: {},
    rowsRead: 0, rowsInvalid: 0, rowsDuplicate: 0, rowsCounted: 0, error: null,
  });
  // 5 page views in a minute before the boundary (the speed layer's, not the answer's), 3 after it.
  await writeCheckpointedSpeedRows(store, {
    pageMinutes: [
      { partition: 0, site: 'default', pageId: '/a', bucket: CUTOFF - 2 * MIN, views: 5, version: 1 },
      { partition: 0, site: 'default', pageId: '/a', bucket: CUTOFF + MIN, views: 3, version: 1 },
    ],
    overflow: [],
    visitors: [],
  });
}, 60_000);

afterAll(async () => {
  await backends?.cleanup();
});

describe('realtime numbers with the batch boundary inside the window', () => {
  it('count page views from the boundary, and say which minutes they leave out', async () => {
    const message = await realtimeNumbers(versioned(backends.store), 'default', NOW);
    expect(message.from).toBe(new Date(CUTOFF - 3 * MIN).toISOString());
    expect(message.pageviews).toMatchObject({
      value: 3,
      exact: false,
      partial: { missingFrom: new Date(CUTOFF - 3 * MIN).toISOString(), missingTo: new Date(CUTOFF).toISOString() },
    });
    expect(message.pageviews.partial?.reason).toMatch(/batch boundary is inside the window/);
  });

  it('with the boundary before the window: every minute of it, nothing left out', async () => {
    const message = await realtimeNumbers(versioned(backends.store), 'default', CUTOFF + HOUR);
    expect(message.pageviews.partial).toBeUndefined();
    expect(message.pageviews.value).toBe(0);
  });
});
