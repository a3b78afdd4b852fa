/**
 * Latency of filters across properties on the raw copy (`batchEventCounts`, issue #16), on
 * ClickHouse or DuckDB: N raw events of one site over 30 days, then three filtered queries,
 * against the same query without filters (every event deduplicated) measured in the same run.
 * A standalone script (not in the bench registry): `npx tsx bench/filters-latency.ts 1000000 clickhouse|duckdb`.
 * ClickHouse at 127.0.0.1:8123 (npm run infra:up); each run makes a database of its own.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ClickHouseViewStore, DuckDbViewStore, type ViewStore } from '../shared/adapters/view-store/index.ts';
import { parseFilters, PROPERTIES } from '../shared/core/query/index.ts';
import { mulberry32 } from '../shared/tools/traffic-generator.ts';

const N = Number(process.argv[2] ?? 1_000_000);
const engine = process.argv[3] ?? 'clickhouse';
const DAY = 86_400_000;
const to = Date.UTC(2026, 10, 30);
const from = to - 30 * DAY;
const store: ViewStore = engine === 'clickhouse' ? new ClickHouseViewStore({ url: 'http://127.0.0.1:8123', database: `combo_${randomUUID().slice(0, 8)}` }) : await DuckDbViewStore.open({ path: ':memory:' } as never);
await store.migrate();
const rnd = mulberry32(7);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
let t0 = performance.now();
for (let start = 0; start < N; start += 50_000) {
  const rows = [];
  for (let i = start; i < Math.min(N, start + 50_000); i++) {
    rows.push({
      partition: i % 4, offset: Math.floor(i / 4), eventId: randomUUID(), site: 'big', pageId: `/p/${Math.floor(rnd() * 5000)}`, visitorId: `v${Math.floor(rnd() * 200_000)}`,
      visitorHllIndex: 0, visitorHllRank: 1, eventTime: from + Math.floor(rnd() * 30 * DAY), referrer: pick(['', 'https://www.google.com/', 'https://github.com/x']), userAgent: '',
      schemaVersion: 2 as const, source: pick(['Google', 'GitHub', 'Bing']), device: pick(['Mobile', 'Desktop', 'Tablet'] as const), browser: pick(['Chrome', 'Firefox', 'Safari']), country: pick(['US', 'DE', 'FR', 'JP']),
    });
  }
  await store.appendRawEvents(rows);
}
console.log(`${engine}: inserted ${N} raw rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const boundary = { batchId: 'x', cutoffTime: to, endOffsets: { '0': N, '1': N, '2': N, '3': N }, publishedAt: to };
const f = (text: string) => { const p = parseFilters(text); if (!p.ok) throw new Error(p.message); return p.filters; };
const page = PROPERTIES[0];
const cases: [string, () => Promise<unknown>][] = [
  ['reference: total, no filters (the dedup scan alone)', () => store.batchEventCounts(boundary, { site: 'big', from, to, filters: [] })],
  ['total, 2 filters', () => store.batchEventCounts(boundary, { site: 'big', from, to, filters: f('visit:source==Google;visit:device==Mobile') })],
  ['by page, 1 filter', () => store.batchEventCounts(boundary, { site: 'big', from, to, filters: f('visit:source==Google'), groupBy: { property: page } })],
  ['by day, 2 filters + wildcard', () => store.batchEventCounts(boundary, { site: 'big', from, to, filters: f('visit:country==US|DE;event:page==/p/1*'), groupBy: { interval: 'day' } })],
];
for (const [name, run] of cases) {
  const times = [];
  for (let r = 0; r < 5; r++) { t0 = performance.now(); await run(); times.push(performance.now() - t0); }
  times.sort((a, b) => a - b);
  console.log(`${engine} ${N}: ${name}: median ${times[2]!.toFixed(0)} ms (min ${times[0]!.toFixed(0)})`);
}
await store.close();
