/**
 * Visit enrichment: µs per `enrich` call, the user-agent cache's speed-up, the country table
 * (build time, bytes, RSS, event-loop delay during the build, µs per lookup), and the memory and
 * latency of the country lookup against fast-geoip's own per-lookup file reads (the path the
 * table replaced, via the geoLookup option). Not part of bench/run.ts; run it on its own:
 *
 *   npx tsx bench/enrichment.ts [--calls 100000]
 *
 * The workload: 200 distinct user agents picked with a Zipf law (a few browsers make most
 * traffic), page URLs with and without UTM tags, referrers from search, social, internal
 * navigation or none, and client addresses from a pool of visitors who view several pages
 * each. The table and geoip memory figures come from fresh child processes (one per mode) so
 * that nothing else is in their heap.
 */

import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import fastGeoip from 'fast-geoip';
import { CountryLookup, fastGeoipLookup, formatIpv4, isPublicIpv4 } from '../collector/enrichment/country.ts';
import { loadCountryTable } from '../collector/enrichment/country-table.ts';
import { VisitEnrichment, type VisitContext } from '../collector/enrichment/index.ts';
import { ZipfSampler, mulberry32 } from '../shared/tools/traffic-generator.ts';

/** A seeded generator, so every run sees the same workload. */
const random = mulberry32;

/** A picker of indexes 0..n-1 with probability ∝ 1/(i+1)^s (the traffic generator's sampler). */
function zipf(n: number, s: number, rnd: () => number): () => number {
  const sampler = new ZipfSampler(n, s);
  return () => sampler.sample(rnd());
}

/** 200 distinct, realistic user agents: browser families × versions × platforms. */
function userAgents(): string[] {
  const platforms = {
    windows: 'Windows NT 10.0; Win64; x64',
    mac: 'Macintosh; Intel Mac OS X 10_15_7',
    linux: 'X11; Linux x86_64',
    android: 'Linux; Android 14; SM-S918B',
    pixel: 'Linux; Android 13; Pixel 7',
  };
  const out = new Set<string>();
  for (let v = 100; out.size < 200; v++) {
    for (const [name, p] of Object.entries(platforms)) {
      const mobile = name === 'android' || name === 'pixel' ? ' Mobile' : '';
      out.add(`Mozilla/5.0 (${p}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.${6000 + v}.${v % 200} ${mobile}Safari/537.36`);
      if (name === 'windows') out.add(`Mozilla/5.0 (${p}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Safari/537.36 Edg/${v}.0.${2000 + v}.${v % 90}`);
      if (name !== 'android' && name !== 'pixel') out.add(`Mozilla/5.0 (${p}; rv:${v}.0) Gecko/20100101 Firefox/${v}.0`);
      if (name === 'android') out.add(`Mozilla/5.0 (${p}) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/${v - 80}.0 Chrome/${v}.0.0.0 Mobile Safari/537.36`);
    }
    const ios = `${15 + (v % 4)}_${v % 7}`;
    out.add(`Mozilla/5.0 (iPhone; CPU iPhone OS ${ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${15 + (v % 4)}.${v % 7} Mobile/15E148 Safari/604.1`);
    out.add(`Mozilla/5.0 (iPad; CPU OS ${ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${15 + (v % 4)}.${v % 7} Mobile/15E148 Safari/604.1`);
  }
  return [...out].slice(0, 200);
}

/** A random public IPv4 address. */
function publicIp(rnd: () => number): string {
  for (;;) {
    const ip = Math.floor(rnd() * 2 ** 32);
    if (isPublicIpv4(ip)) return formatIpv4(ip);
  }
}

const REFERRERS = [
  'https://www.google.com/',
  'https://www.google.co.uk/',
  'https://www.bing.com/search?q=analytics',
  'https://duckduckgo.com/',
  'https://t.co/AbCdEf',
  'https://l.facebook.com/l.php?u=x',
  'https://news.ycombinator.com/item?id=1',
  'https://github.com/org/repo',
  'https://blog.example.org/post/1',
  'https://www.example.com/pricing', // internal
  'android-app://com.google.android.gm/',
];

/** `n` contexts: 200 user agents (Zipf), visitors of ~4 page views each from a pool of addresses. */
function workload(n: number, seed: number, visitorPool: number): VisitContext[] {
  const rnd = random(seed);
  const agents = userAgents();
  const pickAgent = zipf(agents.length, 1.1, rnd);
  const pickReferrer = zipf(REFERRERS.length, 1, rnd);
  const visitors = Array.from({ length: visitorPool }, () => ({ ip: publicIp(rnd), agent: agents[pickAgent()] as string }));
  const pickVisitor = zipf(visitors.length, 0.6, rnd);
  const contexts: VisitContext[] = [];
  for (let i = 0; i < n; i++) {
    const visitor = visitors[pickVisitor()] as { ip: string; agent: string };
    const r = rnd();
    const pageUrl =
      r < 0.15
        ? `https://www.example.com/landing?utm_source=newsletter&utm_medium=email&utm_campaign=spring-${i % 7}`
        : r < 0.2
          ? `https://www.example.com/?ref=producthunt`
          : `https://www.example.com/page/${i % 500}`;
    const referrer = rnd() < 0.4 ? undefined : REFERRERS[pickReferrer()];
    contexts.push({ pageUrl, referrer, userAgent: visitor.agent, screenWidth: rnd() < 0.9 ? Math.floor(320 + rnd() * 2200) : undefined, clientIp: visitor.ip });
  }
  return contexts;
}

const us = (ms: number, calls: number): string => ((ms * 1000) / calls).toFixed(2);

/** Sequential calls (each awaited): the latency one event adds. */
async function timeSequential(enrichment: VisitEnrichment, contexts: VisitContext[]): Promise<number> {
  const start = performance.now();
  for (const c of contexts) await enrichment.enrich(c);
  return performance.now() - start;
}

/** `concurrency` calls in flight: the throughput of a busy collector. */
async function timeConcurrent(enrichment: VisitEnrichment, contexts: VisitContext[], concurrency: number): Promise<number> {
  const start = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < contexts.length) await enrichment.enrich(contexts[next++] as VisitContext);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - start;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

interface MemoryFigures {
  mode: string;
  baseline: { rssMiB: number; heapMiB: number; externalMiB: number };
  afterFirst: { rssMiB: number; heapMiB: number; externalMiB: number; ms: number };
  after10k: { rssMiB: number; heapMiB: number; externalMiB: number };
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  cpuMsPerLookup: number;
  found: number;
}

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
function memory(): { rssMiB: number; heapMiB: number; externalMiB: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed), externalMiB: mib(m.external) };
}

/**
 * Child process: geoip memory and latency, 10,000 sequential lookups of random public addresses.
 * 'table': the country table (the first lookup waits for its build); the others: fast-geoip's
 * lookup per address, with our range cache, without, or with fast-geoip's own cache.
 */
async function geoipMemoryChild(mode: string): Promise<void> {
  if (mode === 'fast-geoip-enableCache') fastGeoip.enableCache();
  const enrichment = new VisitEnrichment(mode === 'table' ? {} : { geoLookup: fastGeoipLookup, countryCacheSize: mode === 'fast-geoip-range-cache' ? 10_000 : 0 });
  const rnd = random(7);
  const ips = Array.from({ length: 10_000 }, () => publicIp(rnd));
  const baseline = memory();
  let t = performance.now();
  await enrichment.enrich({ clientIp: '8.8.8.8' });
  const firstMs = performance.now() - t;
  const afterFirst = { ...memory(), ms: Math.round(firstMs * 100) / 100 };
  const latencies: number[] = [];
  let found = 0;
  const cpu = process.cpuUsage();
  for (const clientIp of ips) {
    t = performance.now();
    if ((await enrichment.enrich({ clientIp })).country !== undefined) found++;
    latencies.push(performance.now() - t);
  }
  const cpuPerLookup = cpuMs(cpu) / ips.length;
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number) * 1000) / 1000;
  const figures: MemoryFigures = {
    mode,
    baseline,
    afterFirst,
    after10k: memory(),
    latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) },
    cpuMsPerLookup: Math.round(cpuPerLookup * 1000) / 1000,
    found,
  };
  process.stdout.write(JSON.stringify(figures));
}

/** Child process: the user-agent cache filled with 10,000 distinct user agents (the default capacity). */
function userAgentCacheChild(): void {
  const base = userAgents();
  const enrichment = new VisitEnrichment({ geoip: false });
  enrichment.enrichSync({ userAgent: 'warm-up' });
  const baseline = memory();
  for (let i = 0; i < 10_000; i++) enrichment.enrichSync({ userAgent: `${base[i % base.length] as string} App/${i}` });
  const after = memory();
  const none = { p50: 0, p90: 0, p99: 0, max: 0 };
  const figures: MemoryFigures = { mode: 'user-agent-cache', baseline, afterFirst: { ...baseline, ms: 0 }, after10k: after, latencyMs: none, cpuMsPerLookup: 0, found: enrichment.stats().userAgents.size };
  process.stdout.write(JSON.stringify(figures));
}

interface TableFigures {
  buildWallMs: number;
  buildWorkerMs: number;
  ranges: number;
  sourceRanges: number;
  tableBytes: number;
  before: { rssMiB: number; heapMiB: number; externalMiB: number };
  peakRssMiB: number;
  after: { rssMiB: number; heapMiB: number; externalMiB: number };
  afterOneSecond: { rssMiB: number; heapMiB: number; externalMiB: number };
  eventLoopDelayMaxMs: number;
  idleEventLoopDelayMaxMs: number;
  tableLookupUs: number;
  countryLookupUs: number;
  lookups: number;
  found: number;
}

/**
 * Child process: the country table alone. Build time (wall, and the worker's own), bytes, RSS
 * before, during (peak, sampled every 20 ms) and after the build, the main thread's worst
 * event-loop delay during the build, then µs per lookup over 1M random addresses: the table's
 * binary search, and CountryLookup.country (parse, special-range filter, table, promise).
 */
async function tableChild(): Promise<void> {
  const lookups = 1_000_000;
  const rnd = random(11);
  const ips = new Uint32Array(lookups);
  for (let i = 0; i < lookups; i++) ips[i] = Math.floor(rnd() * 2 ** 32);
  const before = memory();
  // The control: the worst event-loop delay over 1.5 s without a build (this machine's noise).
  const idle = monitorEventLoopDelay({ resolution: 10 });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  idle.disable();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  delay.enable();
  const t = performance.now();
  const table = await loadCountryTable();
  const buildWallMs = performance.now() - t;
  delay.disable();
  clearInterval(sampler);
  const after = memory();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const afterOneSecond = memory();

  let found = 0;
  for (let i = 0; i < 200_000; i++) if (table.country(ips[i] as number) !== undefined) found++; // warm-up (JIT)
  found = 0;
  let start = performance.now();
  for (const ip of ips) if (table.country(ip) !== undefined) found++;
  const tableLookupUs = ((performance.now() - start) * 1000) / lookups;

  const countries = new CountryLookup({ table: async () => table });
  const texts = Array.from(ips.subarray(0, 200_000), formatIpv4);
  for (const text of texts) await countries.country(text); // warm-up; the table is held from here
  start = performance.now();
  for (let round = 0; round < lookups / texts.length; round++) for (const text of texts) await countries.country(text);
  const countryLookupUs = ((performance.now() - start) * 1000) / lookups;

  const figures: TableFigures = {
    buildWallMs: Math.round(buildWallMs),
    buildWorkerMs: Math.round(table.build.buildMs),
    ranges: table.size,
    sourceRanges: table.build.sourceRanges,
    tableBytes: table.byteLength,
    before,
    peakRssMiB: mib(peakRss),
    after,
    afterOneSecond,
    eventLoopDelayMaxMs: Math.round(delay.max / 1e4) / 100,
    idleEventLoopDelayMaxMs: Math.round(idle.max / 1e4) / 100,
    tableLookupUs: Math.round(tableLookupUs * 1000) / 1000,
    countryLookupUs: Math.round(countryLookupUs * 1000) / 1000,
    lookups,
    found,
  };
  process.stdout.write(JSON.stringify(figures));
}

function runChild<T = MemoryFigures>(mode: string): T {
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--geoip-memory', mode], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`geoip memory child (${mode}) failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as T;
}

async function main(): Promise<void> {
  const memoryMode = process.argv.indexOf('--geoip-memory');
  if (memoryMode >= 0) {
    const mode = process.argv[memoryMode + 1] ?? 'table';
    if (mode === 'table-build') return tableChild();
    return mode === 'user-agent-cache' ? userAgentCacheChild() : geoipMemoryChild(mode);
  }
  const callsArg = process.argv.indexOf('--calls');
  const calls = callsArg >= 0 ? Number(process.argv[callsArg + 1]) : 100_000;

  console.log(`# Visit enrichment (node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  const contexts = workload(calls, 42, 25_000);
  const withoutIp = contexts.map(({ clientIp: _ip, ...rest }) => rest);

  // Warm-up (JIT), then the figures.
  await timeSequential(new VisitEnrichment({ geoip: false }), withoutIp.slice(0, 5000));

  console.log(`\n## µs per enrich() call, ${calls} calls, 200 distinct user agents`);
  {
    const e = new VisitEnrichment({ geoip: false });
    const cpu = process.cpuUsage();
    const ms = await timeSequential(e, withoutIp);
    console.log(`geoip off, user-agent cache on:   ${us(ms, calls)} µs/call (cpu ${us(cpuMs(cpu), calls)}); cache ${JSON.stringify(e.stats().userAgents)}`);
  }
  {
    const e = new VisitEnrichment({ geoip: false, userAgentCacheSize: 0 });
    const ms = await timeSequential(e, withoutIp);
    console.log(`geoip off, user-agent cache off:  ${us(ms, calls)} µs/call`);
  }
  {
    const e = new VisitEnrichment();
    const t = performance.now();
    const status = await e.geoipStatus(); // builds the process's table; the figures below exclude the build
    console.log(`country table: ${status} after ${(performance.now() - t).toFixed(0)} ms (build, in a worker thread)`);
    const cpu = process.cpuUsage();
    const ms = await timeSequential(e, contexts);
    const s = e.stats().countries;
    console.log(`geoip on (country table), awaited one by one: ${us(ms, calls)} µs/call (cpu ${us(cpuMs(cpu), calls)}); countries ${JSON.stringify(s)}`);
  }
  {
    const e = new VisitEnrichment();
    const ms = await timeConcurrent(e, contexts, 64);
    console.log(`geoip on (country table), 64 in flight:       ${us(ms, calls)} µs/call (throughput)`);
  }
  {
    const n = Math.min(calls, 10_000);
    const e = new VisitEnrichment({ geoLookup: fastGeoipLookup });
    const cpu = process.cpuUsage();
    const ms = await timeSequential(e, contexts.slice(0, n));
    console.log(`geoip on, fast-geoip per lookup + range cache (before), awaited one by one (${n} calls): ${us(ms, n)} µs/call (cpu ${us(cpuMs(cpu), n)})`);
    const e1 = new VisitEnrichment({ geoLookup: fastGeoipLookup, countryCacheSize: 0 });
    const cpu1 = process.cpuUsage();
    const ms1 = await timeSequential(e1, contexts.slice(0, n));
    console.log(`geoip on, fast-geoip per lookup, no range cache, awaited one by one (${n} calls): ${us(ms1, n)} µs/call (cpu ${us(cpuMs(cpu1), n)})`);
    const e2 = new VisitEnrichment({ geoLookup: fastGeoipLookup, countryCacheSize: 0 });
    const ms2 = await timeConcurrent(e2, contexts.slice(0, n), 64);
    console.log(`geoip on, fast-geoip per lookup, no range cache, 64 in flight (${n} calls):        ${us(ms2, n)} µs/call (throughput)`);
  }

  console.log('\n## User-agent cache: parse only (enrichSync with a user agent and nothing else)');
  {
    const agents = contexts.map((c) => ({ userAgent: c.userAgent }));
    const cached = new VisitEnrichment({ geoip: false });
    const uncached = new VisitEnrichment({ geoip: false, userAgentCacheSize: 0 });
    let t = performance.now();
    for (const c of agents) cached.enrichSync(c);
    const cachedMs = performance.now() - t;
    t = performance.now();
    for (const c of agents) uncached.enrichSync(c);
    const uncachedMs = performance.now() - t;
    console.log(`uncached ${us(uncachedMs, calls)} µs, cached ${us(cachedMs, calls)} µs: ×${(uncachedMs / cachedMs).toFixed(1)}`);
    const bots = agents.map((a) => a.userAgent as string);
    t = performance.now();
    for (const ua of bots) cached.isBot(ua);
    const botCachedMs = performance.now() - t;
    t = performance.now();
    for (const ua of bots) uncached.isBot(ua);
    const botMs = performance.now() - t;
    console.log(`isBot: uncached ${us(botMs, calls)} µs, cached ${us(botCachedMs, calls)} µs`);
  }
  {
    const f = runChild('user-agent-cache');
    console.log(`user-agent cache full (${f.found} entries of ~140 characters): heap ${f.baseline.heapMiB} → ${f.after10k.heapMiB} MiB, RSS ${f.baseline.rssMiB} → ${f.after10k.rssMiB} MiB`);
  }

  console.log('\n## Country table (fresh process; built in a worker thread; 1M random IPv4 addresses)');
  {
    const f = runChild<TableFigures>('table-build');
    console.log(`build ${f.buildWallMs} ms wall (worker ${f.buildWorkerMs} ms): ${f.sourceRanges} fast-geoip ranges → ${f.ranges} ranges, ${f.tableBytes} bytes`);
    console.log(`RSS ${f.before.rssMiB} → peak ${f.peakRssMiB} during the build → ${f.after.rssMiB} MiB after (${f.afterOneSecond.rssMiB} MiB 1 s later); heap ${f.before.heapMiB} → ${f.after.heapMiB} MiB; external ${f.before.externalMiB} → ${f.after.externalMiB} MiB`);
    console.log(`main thread's worst event-loop delay during the build: ${f.eventLoopDelayMaxMs} ms (1.5 s without a build: ${f.idleEventLoopDelayMaxMs} ms)`);
    console.log(`lookup: table.country(ip) ${f.tableLookupUs} µs; CountryLookup.country(text), awaited ${f.countryLookupUs} µs (${f.lookups} lookups, ${f.found} with a country)`);
  }

  console.log('\n## Country lookup: memory and latency (fresh process each; 10,000 random public IPv4 addresses, awaited one by one)');
  for (const mode of ['table', 'fast-geoip-range-cache', 'fast-geoip-no-cache', 'fast-geoip-enableCache']) {
    const f = runChild(mode);
    console.log(
      `${mode.padEnd(22)} RSS ${f.baseline.rssMiB} → ${f.afterFirst.rssMiB} (first, ${f.afterFirst.ms} ms) → ${f.after10k.rssMiB} MiB; ` +
        `heap ${f.baseline.heapMiB} → ${f.afterFirst.heapMiB} → ${f.after10k.heapMiB} MiB; external ${f.baseline.externalMiB} → ${f.after10k.externalMiB} MiB; ` +
        `latency p50 ${f.latencyMs.p50} p90 ${f.latencyMs.p90} p99 ${f.latencyMs.p99} max ${f.latencyMs.max} ms; cpu ${f.cpuMsPerLookup} ms/lookup; found ${f.found}/10000`,
    );
  }
}

await main();
