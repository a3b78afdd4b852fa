/**
 * Plausible events API: events/s into Kafka through `POST /api/event` (one page view per
 * request, as browsers send them), with the enrichment on (source, UTM, device, browser, OS,
 * country) and off, in the same run. Each request comes from one of many client addresses
 * (X-Forwarded-For, trusted from loopback) and user agents, so visitor ids, the user-agent cache
 * and the country table see realistic variety. The app runs in a worker per mode; autocannon in
 * this process; repetitions alternate between the two modes.
 */
import { figure, type BenchResult } from './figures.ts';
import { createTopic, migratedDatabase, topicSize, type BenchEnv, type Resources } from './harness.ts';
import { mulberry32 } from '../shared/tools/traffic-generator.ts';
import { checkClean, load, type LoadResult } from './load.ts';
import type { Sizes } from './sizes.ts';

const VARIANTS = 512;
/**
 * Connections: each request waits for Kafka's acknowledgement of its one event (group-committed
 * with the others in flight), so throughput is about connections / produce latency; browsers
 * arrive on many connections at once.
 */
const CONNECTIONS = 64;
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
];
const REFERRERS = [null, 'https://www.google.com/', 'https://news.ycombinator.com/', 'https://github.com/x/y', 'https://t.co/abc', 'https://example.org/blog'];

/** Request bodies and headers: pages, referrers, widths, UTM tags, addresses and user agents, seeded. */
function plausibleRequests(): { path: string; method: 'POST'; body: string; headers: Record<string, string> }[] {
  const random = mulberry32(15);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  return Array.from({ length: VARIANTS }, (_, i) => {
    const utm = i % 5 === 0 ? '?utm_source=newsletter&utm_medium=email&utm_campaign=winter' : '';
    const body = { n: 'pageview', u: `https://shop.example/page/${Math.floor(random() * 1000)}${utm}`, d: 'shop.example', r: pick(REFERRERS), w: pick([390, 768, 1280, 1920]) };
    // Public addresses, one per variant (the country table answers for each).
    const ip = `${1 + Math.floor(random() * 222)}.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 254)}`;
    return { path: '/api/event', method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'text/plain', 'user-agent': pick(USER_AGENTS), 'x-forwarded-for': ip } };
  });
}

export async function benchPlausibleEvents(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const common = { BENCH_BROKERS: env.brokers.join(','), BENCH_CLICKHOUSE_URL: env.clickhouseUrl, BENCH_TRUST_PROXY: 'loopback' };
  const requests = plausibleRequests();
  const modes = ['on', 'off'] as const;
  const workers = new Map<(typeof modes)[number], { port: number; topic: string }>();
  for (const mode of modes) {
    const topic = res.topic();
    await createTopic(env.brokers, topic);
    // The visitor-id salts are kept in the view store: each worker has its database.
    const worker = await res.worker('serving', { ...common, BENCH_TOPIC: topic, BENCH_DATABASE: await migratedDatabase(env, res), BENCH_ENRICHMENT: mode });
    workers.set(mode, { port: Number((await worker.next('ready', 60_000))['port']), topic });
  }
  const maxRequests = 400_000;
  const post = (mode: (typeof modes)[number], durationS: number): Promise<LoadResult> =>
    load({ port: workers.get(mode)?.port ?? 0, connections: CONNECTIONS, durationS, maxRequests, requests, timeoutS: 30 });

  env.say(`  warm-up: ${sizes.loadWarmupS} s each (the country table is built before the first measured run)`);
  const accepted = { on: 0, off: 0 };
  for (const mode of modes) {
    const warm = await post(mode, sizes.loadWarmupS);
    checkClean(`/api/event warm-up, enrichment ${mode}`, warm);
    accepted[mode] += warm.ok;
  }
  const runs: Record<(typeof modes)[number], LoadResult[]> = { on: [], off: [] };
  for (let rep = 0; rep < env.reps; rep++) {
    for (const mode of modes) {
      const r = await post(mode, sizes.loadS);
      checkClean(`/api/event, enrichment ${mode}`, r);
      accepted[mode] += r.ok;
      runs[mode].push(r);
    }
    env.say(
      `  rep ${rep + 1}: enrichment on ${Math.round(runs.on[rep]?.requestsPerSec ?? 0)} events/s (p99 ${runs.on[rep]?.p99} ms); ` +
        `off ${Math.round(runs.off[rep]?.requestsPerSec ?? 0)} events/s (p99 ${runs.off[rep]?.p99} ms)`,
    );
  }
  // Every 202 is an event in the topic (and at most the requests in flight at the end of a run besides).
  await new Promise((resolve) => setTimeout(resolve, 2000));
  for (const mode of modes) {
    const inTopic = await topicSize(env.brokers, workers.get(mode)?.topic ?? '');
    const inFlight = (env.reps + 1) * CONNECTIONS;
    if (inTopic < accepted[mode] || inTopic > accepted[mode] + inFlight) {
      throw new Error(`/api/event (enrichment ${mode}) answered 202 for ${accepted[mode]} events but the topic holds ${inTopic}`);
    }
  }
  return {
    id: 'plausible-events',
    title: 'Plausible events API (POST /api/event → Kafka)',
    figures: [
      figure('POST /api/event, enrichment on', 'events/s', 'higher', runs.on.map((r) => r.requestsPerSec), {
        name: 'the same requests, enrichment off',
        values: runs.off.map((r) => r.requestsPerSec),
        meaning: 'on / off',
      }),
      figure('POST /api/event p99, enrichment on', 'ms', 'lower', runs.on.map((r) => r.p99), {
        name: 'enrichment off',
        values: runs.off.map((r) => r.p99),
        meaning: 'on / off (p99)',
      }),
    ],
    details: { connections: CONNECTIONS, variants: VARIANTS, on: runs.on, off: runs.off, accepted },
    notes: [
      `One page view per request, as browsers send them: ${VARIANTS} different requests in turn (pages, referrers, widths, UTM tags, ${VARIANTS} public client addresses in X-Forwarded-For trusted from loopback, ${USER_AGENTS.length} user agents), ${CONNECTIONS} connections (each request waits for the acknowledgement of its event: throughput is about connections / produce latency), ${sizes.loadS} s per repetition; every answer must be 202 and the topic must hold every accepted event.`,
      'Enrichment on: source, UTM, device, browser and OS (cached user-agent parses), country (the in-memory table). Off: no visit fields. Both make the server-side visitor id (SHA-256 of the daily salt, site, address, user agent) and append to Kafka through the same idempotent producer; rate limits are off (one load generator, one address).',
    ],
  };
}
