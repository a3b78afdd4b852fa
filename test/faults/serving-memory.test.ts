/**
 * Fault-style measurement (issue #12, "memory bounded by bytes"): 500 breakdown requests, each
 * with a different range over a site with many pages, used to take the serving process from
 * 315 MB to 1.9 GB of RSS for good (the batch-read cache kept every page of every range).
 * With the byte budget, RSS grows by at most the budget plus 200 MB of slack (DuckDB, JIT,
 * allocator), measured after a full garbage collection.
 *
 * Measured on the development machine (2 cores, Node 20), 10,000 pages: +157 to +247 MB with
 * the default 64 MB budget, +88 MB with no cache at all (budget 0), +632 MB with an unbounded
 * one. Most of the spread is the embedded DuckDB's own buffers, which have no limit yet, so the
 * test uses 5,000 pages: +127 to +196 MB in three runs, further from the bound.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES } from '../../shared/runtime/environment.ts';
import { embeddedBackends, type TestBackends } from '../support/backends.ts';
import { publishManyPages } from '../support/many-pages.ts';
import { serveBackends, type LocalServer } from '../support/serving-app.ts';

const HOUR = 3_600_000;
const MB = 1024 * 1024;
const PAGES = 5_000;
const REQUESTS = 500;
/** Requests in flight at once: bounded, like a handful of dashboards. */
const CONCURRENCY = 4;
const CUTOFF = Date.UTC(2026, 4, 1);
/** The budget `npm start` uses unless SERVING_CACHE_BUDGET_MB says otherwise (the app's default). */
const BUDGET_MB = ENVIRONMENT_VARIABLES.SERVING_CACHE_BUDGET_MB.default;
const SLACK_MB = 200;

/** A full garbage collection: global.gc under --expose-gc, else the same function obtained at run time. */
function collectGarbage(): void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed();
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

function rssMb(): number {
  collectGarbage();
  return process.memoryUsage().rss / MB;
}

describe('serving memory under distinct-range breakdowns', () => {
  let backends: TestBackends;
  let server: LocalServer;

  beforeAll(async () => {
    backends = await embeddedBackends();
    await backends.store.migrate();
    await publishManyPages(backends.store, { site: 'big', pages: PAGES, cutoffTime: CUTOFF, batchId: 'rss' });
    server = await serveBackends(backends); // the default budget, as `npm start` has it
  });
  afterAll(async () => {
    await server?.close();
    await backends?.cleanup();
  });

  /** A breakdown of the `hoursBack` hours before the cutoff: every page, a range (and cache key) of its own. */
  async function breakdown(hoursBack: number): Promise<void> {
    const res = await fetch(`${server.base}/api/v1/stats/breakdown?site=big&metrics=pageviews&from=${CUTOFF - hoursBack * HOUR}&to=${CUTOFF}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { total: number }).total).toBe(PAGES);
  }

  it(`${REQUESTS} distinct-range breakdowns over ${PAGES} pages grow RSS by at most the cache budget + ${SLACK_MB} MB`, async () => {
    // Warm up (engine caches, JIT) on ranges outside the measured ones.
    for (let i = 0; i < CONCURRENCY; i++) await breakdown(REQUESTS + 1 + i);
    const before = rssMb();
    let next = 1;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next <= REQUESTS) await breakdown(next++);
      }),
    );
    const growth = rssMb() - before;
    console.log(`${REQUESTS} distinct breakdowns: RSS +${growth.toFixed(0)} MB (budget ${BUDGET_MB} MB)`);
    expect(next).toBe(REQUESTS + 1);
    expect(growth).toBeLessThanOrEqual(BUDGET_MB + SLACK_MB);
  }, 300_000);
});
