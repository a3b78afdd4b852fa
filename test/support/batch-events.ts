/**
 * The events the batch fault tests fill a log with: v1 page views of site `default` over 50
 * pages and BATCH_TEST_VISITORS visitors, spread over the 3 hours from `t0`, each with a new
 * event id. Event `from + j` is the same page, visitor and time whichever fill writes it.
 */
import { randomUUID } from 'node:crypto';
import type { EventLog } from '../../shared/adapters/event-log/index.ts';
import { encodePageView, pageViewKey } from '../../shared/core/page-view.ts';

const HOUR = 3_600_000;

/** Distinct visitors of the filled events (every one of them in a fill of at least this many). */
export const BATCH_TEST_VISITORS = 5000;

/** Appends events `from` to `from + count - 1` in appends of 5,000. */
export async function appendBatchTestEvents(log: Pick<EventLog, 'append'>, from: number, count: number, t0: number): Promise<void> {
  for (let i = 0; i < count; i += 5000) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + 5000); j++) {
      const n = from + j;
      const e = { schemaVersion: 1 as const, eventId: randomUUID(), site: 'default', pageId: `/p${n % 50}`, visitorId: `v${n % BATCH_TEST_VISITORS}`, timestamp: t0 + (n % (3 * HOUR)) };
      messages.push({ key: pageViewKey(e), value: encodePageView(e) });
    }
    await log.append(messages);
  }
}
