/**
 * A benchmark worker process: `node --import tsx bench/worker.ts <role>`, configured by BENCH_*
 * environment variables (bench/harness.ts starts it). It reports JSON lines prefixed with
 * `@@bench ` on stdout ({type: 'ready' | 'result' | 'error', ...}); SIGTERM stops it cleanly.
 *
 * Roles run the product's own code (SpeedLayer, runBatch, the app of `npm start`, TrafficPump) in a
 * process of their own, as a deployment would, so that its CPU and memory can be told apart from
 * the load generator's.
 */
import { loadConfig } from '../shared/runtime/config.ts';
import { SPEED_LAYER_DEFAULTS } from '../speed-layer/index.ts';
import { writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import { findSourceMap } from 'node:module';
import path from 'node:path';
import v8 from 'node:v8';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import express from 'express';
import kafkajs from 'kafkajs';
import { runBatch } from '../batch-layer/index.ts';
import { ENVIRONMENT_VARIABLES } from '../shared/runtime/environment.ts';
import { EmbeddedEventLog, KafkaEventLog, partitionForKey, type EventLog, type ReadRangeOptions } from '../shared/adapters/event-log/index.ts';
import { createLogger } from '../shared/runtime/logger.ts';
import { PlatformMetrics } from '../shared/runtime/metrics.ts';
import { isDimensionSite } from '../shared/core/dimensions.ts';
import { decodePageView, encodePageView, pageViewKey } from '../shared/core/page-view.ts';
import { ByteBudget, PartitionState } from '../speed-layer/partition-state.ts';
import { TrafficPump } from '../shared/tools/traffic-pump.ts';
import { ClickHouseViewStore, DuckDbViewStore, type BatchRunRecord, type ViewStore } from '../shared/adapters/view-store/index.ts';
import { createPlatformApp, type PlatformAppDeps } from '../cli/platform-app.ts';
import { VisitEnrichment } from '../collector/index.ts';
import { ServingViews } from '../serving-layer/index.ts';
import { SpeedLayer } from '../speed-layer/index.ts';
import { sessionMemory } from './memory-sessions.ts';
import { collectorBatches, DAY_MS, distinctPageEvents, distinctValueEvents, HOUR_MS, MINUTE_MS, gridEvents, spreadEvents } from './events.ts';
import type { PageView } from '../shared/core/page-view.ts';

const logger = createLogger({ level: process.env['LOG_LEVEL'] ?? 'warn', name: `bench-${process.argv[2] ?? 'worker'}` });

function send(message: Record<string, unknown>): void {
  process.stdout.write(`@@bench ${JSON.stringify(message)}\n`);
}

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`bench worker needs ${name}`);
  return value;
}

function envNumber(name: string, fallback?: number): number {
  const raw = process.env[name];
  if ((raw === undefined || raw === '') && fallback !== undefined) return fallback;
  const value = Number(env(name));
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got ${raw}`);
  return value;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** BENCH_<name>=on|off, default on (the product's defaults). */
function onOff(name: string): boolean {
  const raw = process.env[name] ?? 'on';
  if (raw !== 'on' && raw !== 'off') throw new Error(`${name} must be on or off, got ${raw}`);
  return raw === 'on';
}

/**
 * The speed layer's optional parts, each on unless turned off: BENCH_DIMENSIONS=off, without its
 * dimension views (SpeedLayerOptions.dimensions); BENCH_SESSIONS=off, without sessions
 * (SpeedLayerOptions.sessions).
 */
function layerOptions(): { dimensions: boolean; sessions: boolean } {
  return { dimensions: onOff('BENCH_DIMENSIONS'), sessions: onOff('BENCH_SESSIONS') };
}

let stopRequested = false;
/** Set while a role waits for SIGTERM to stop cleanly; otherwise SIGTERM exits at once. */
let graceful = false;
const stopWaiters: (() => void)[] = [];
process.on('SIGTERM', () => {
  stopRequested = true;
  if (!graceful) process.exit(143);
  for (const w of stopWaiters.splice(0)) w();
});
function untilStopped(): Promise<void> {
  graceful = true;
  return stopRequested ? Promise.resolve() : new Promise((resolve) => stopWaiters.push(resolve));
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function kafkaLog(topic: string): KafkaEventLog {
  return new KafkaEventLog({ brokers: env('BENCH_BROKERS').split(','), topic, logger });
}

function clickhouseStore(database: string): ClickHouseViewStore {
  return new ClickHouseViewStore({ url: env('BENCH_CLICKHOUSE_URL'), database });
}

async function listen(app: express.Express): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
    server.once('error', reject);
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no port');
  return address.port;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

// ---------------------------------------------------------------------------------------------
// Speed layer until caught up (ingest and memory)
// ---------------------------------------------------------------------------------------------

interface CatchUp {
  joinMs: number;
  ingestMs: number;
  checkpointed: number;
}

/**
 * Starts `speed` and waits until its checkpoints cover `expect` records (bounded by `maxMs`).
 * `onJoined` runs once start() has resolved, before the clock of the ingest starts.
 */
async function runUntilCaughtUp(
  speed: SpeedLayer,
  store: ViewStore,
  expect: number,
  maxMs: number,
  pollMs = 50,
  onJoined: () => Promise<void> = async () => undefined,
): Promise<CatchUp> {
  const started = performance.now();
  await speed.start();
  const joinMs = performance.now() - started;
  await onJoined();
  const joined = performance.now();
  let checkpointed = 0;
  while (!stopRequested) {
    const checkpoints = await store.speedCheckpoints();
    checkpointed = [...checkpoints.values()].reduce((sum, c) => sum + c.nextOffset, 0);
    if (checkpointed >= expect) break;
    if (performance.now() - joined > maxMs) throw new Error(`speed layer checkpointed ${checkpointed} of ${expect} records within ${maxMs} ms`);
    await sleep(pollMs);
  }
  return { joinMs, ingestMs: performance.now() - joined, checkpointed };
}

/**
 * A CPU profile of part of this process (the V8 inspector's Profiler, as --cpu-prof but over
 * one window): the measured ingest only, without start-up, warm-up and group join.
 */
class WindowProfiler {
  private constructor(private readonly session: Session) {}

  static async start(): Promise<WindowProfiler> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    // The sampling interval of --cpu-prof (1 ms).
    await session.post('Profiler.setSamplingInterval', { interval: 1000 });
    await session.post('Profiler.start');
    return new WindowProfiler(session);
  }

  /**
   * Stops profiling and writes the .cpuprofile file. tsx runs each .ts file as one transpiled
   * line, so the positions of .ts functions are mapped back through tsx's source maps.
   */
  async stop(file: string): Promise<void> {
    const { profile } = await this.session.post('Profiler.stop');
    for (const node of profile.nodes) {
      const frame = node.callFrame;
      if (!frame.url.endsWith('.ts') || frame.lineNumber < 0) continue;
      const entry = findSourceMap(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber);
      if (entry === undefined || !('originalLine' in entry)) continue;
      frame.lineNumber = entry.originalLine;
      frame.columnNumber = entry.originalColumn;
      // Line ticks are positions in the transpiled line: meaningless here.
      delete node.positionTicks;
    }
    await writeFile(file, JSON.stringify(profile));
    await this.session.post('Profiler.disable');
    this.session.disconnect();
  }
}

async function outcomes(metrics: PlatformMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.speedEvents.get()).values) out[String(v.labels['outcome'])] = v.value;
  return out;
}

async function speedWarmup(open: () => Promise<{ log: EventLog; store: ViewStore; close: () => Promise<void> }>, group: string, expect: number): Promise<void> {
  const { log, store, close } = await open();
  const speed = new SpeedLayer(log, store, logger, new PlatformMetrics(), { groupId: group, ...layerOptions() });
  try {
    await runUntilCaughtUp(speed, store, expect, 300_000);
  } finally {
    await speed.stop();
    await close();
  }
}

async function roleSpeed(): Promise<void> {
  const flushIntervalMs = envNumber('BENCH_FLUSH_MS', SPEED_LAYER_DEFAULTS.flushIntervalMs);
  const maxMs = envNumber('BENCH_MAX_MS', 600_000);
  const warmTopic = process.env['BENCH_WARM_TOPIC'];
  if (warmTopic !== undefined && warmTopic !== '') {
    await speedWarmup(async () => {
      const log = kafkaLog(warmTopic);
      const store = clickhouseStore(env('BENCH_WARM_DATABASE'));
      await store.migrate();
      return { log, store, close: async () => void (await Promise.all([log.close(), store.close()])) };
    }, env('BENCH_WARM_GROUP'), envNumber('BENCH_WARM_EXPECT'));
    send({ type: 'warm' });
  }
  const log = kafkaLog(env('BENCH_TOPIC'));
  const store = clickhouseStore(env('BENCH_DATABASE'));
  await store.migrate();
  const metrics = new PlatformMetrics();
  gc();
  const baseline = process.memoryUsage();
  const baselineRss = baseline.rss;
  const baselineLive = baseline.heapUsed + baseline.external;
  const speed = new SpeedLayer(log, store, logger, metrics, { groupId: env('BENCH_GROUP'), flushIntervalMs, ...layerOptions() });
  // BENCH_PROFILE_OUT: a CPU profile of the measured ingest (from start() resolved until caught up).
  const profileOut = process.env['BENCH_PROFILE_OUT'];
  const profiling: { profiler: WindowProfiler | null } = { profiler: null };
  try {
    const expect = envNumber('BENCH_EXPECT');
    const run = await runUntilCaughtUp(speed, store, expect, maxMs, 50, async () => {
      if (profileOut !== undefined && profileOut !== '') profiling.profiler = await WindowProfiler.start();
    });
    if (profiling.profiler !== null && profileOut !== undefined) await profiling.profiler.stop(profileOut);
    const afterRss = process.memoryUsage().rss;
    // State memory with everything applied: one more checkpoint sets the gauge, then a full GC.
    await speed.flush();
    gc();
    const memory = process.memoryUsage();
    // Where the RSS is (V8's committed heap, malloc, buffers), now and after 10 s without traffic.
    const heap = (): Record<string, number> => {
      const h = v8.getHeapStatistics();
      return { rss: process.memoryUsage().rss, heapTotal: h.total_heap_size, heapUsed: h.used_heap_size, malloced: h.malloced_memory, external: h.external_memory };
    };
    const heapNow = heap();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    gc();
    const heapSettled = heap();
    const gauge = (await metrics.speedStateBytes.get()).values[0]?.value ?? Number.NaN;
    send({
      type: 'result',
      ...run,
      expect,
      eventsPerSec: expect / (run.ingestMs / 1000),
      outcomes: await outcomes(metrics),
      baselineRss,
      baselineLive,
      live: memory.heapUsed + memory.external,
      afterRss,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external + memory.arrayBuffers,
      stateBytes: gauge,
      heapNow,
      heapSettled,
      maxRss: maxRssBytes(),
      ...(profiling.profiler === null ? {} : { profile: profileOut }),
    });
  } finally {
    await speed.stop();
    await Promise.all([log.close(), store.close()]);
  }
}

// ---------------------------------------------------------------------------------------------
// Batch run
// ---------------------------------------------------------------------------------------------

/** Runs `fn` while sampling RSS every 100 ms; returns its result and the peak seen. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakRss: number; rssBefore: number }> {
  gc();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  try {
    const value = await fn();
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    return { value, peakRss, rssBefore };
  } finally {
    clearInterval(sampler);
  }
}

/** The product's KafkaEventLog for a batch run, wrapped to count the records readRange delivers (for the stall watchdog). */
function batchLog(topic: string, delivered: { records: number; at: number }): EventLog {
  const log = kafkaLog(topic);
  return new Proxy(log, {
    get(target, prop) {
      if (prop === 'readRange') {
        return (options: ReadRangeOptions) =>
          target.readRange({
            ...options,
            onRecords: async (records) => {
              delivered.records += records.length;
              delivered.at = performance.now();
              await options.onRecords(records);
            },
          });
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Runs a batch with a watchdog: when the raw copy gets no record for BENCH_STALL_MS, the worker
 * reports 'stalled' and exits (a stuck runBatch cannot be cancelled).
 */
interface Statement {
  sql: string;
  ms: number;
  ok: boolean;
}

/**
 * Times the SQL statements a store runs: where a batch run's view build spends its time, and
 * which statement failed. Its protected exec/rows are wrapped on the instance (the store's SQL
 * context calls them on the store itself, so a proxy around it would see none of the build's
 * statements). The raw-copy inserts go through insert(), not traced.
 */
function statementTraced(store: ClickHouseViewStore, statements: Statement[]): ClickHouseViewStore {
  const target = store as unknown as Record<'exec' | 'rows', (query: unknown) => Promise<unknown>>;
  for (const name of ['exec', 'rows'] as const) {
    const fn = target[name].bind(store);
    target[name] = async (query: unknown): Promise<unknown> => {
      const text = typeof query === 'string' ? query : String((query as { text?: unknown }).text ?? '');
      const entry = { sql: text.replace(/\s+/g, ' ').trim().slice(0, 160), ms: 0, ok: false };
      statements.push(entry);
      const started = performance.now();
      try {
        const result = await fn(query);
        entry.ok = true;
        return result;
      } finally {
        entry.ms = Math.round(performance.now() - started);
      }
    };
  }
  return store;
}

/** Statements of a run grouped by their shape (text with numbers and quoted strings blanked): count and total time, slowest first. */
function statementSummary(statements: readonly Statement[]): { shape: string; count: number; ms: number }[] {
  const groups = new Map<string, { shape: string; count: number; ms: number }>();
  for (const st of statements) {
    const shape = st.sql.replace(/'(?:[^'\\]|\\.)*'/g, "'…'").replace(/\b\d+\b/g, 'N').slice(0, 120);
    const g = groups.get(shape) ?? { shape, count: 0, ms: 0 };
    g.count += 1;
    g.ms += st.ms;
    groups.set(shape, g);
  }
  return [...groups.values()].sort((a, b) => b.ms - a.ms);
}

async function watchedBatch(phase: string, topic: string, database: string, cutoffTime: number): Promise<{ run: BatchRunRecord; wallMs: number; copyMs: number; peakRss: number; rssBefore: number; statements: Statement[] }> {
  const stallMs = envNumber('BENCH_STALL_MS', 60_000);
  const delivered = { records: 0, at: performance.now() };
  const log = batchLog(topic, delivered);
  const statements: Statement[] = [];
  const store = statementTraced(clickhouseStore(database), statements);
  // BENCH_EVENTS_PER_PASS: raw rows per deduplication pass of the view build (the store's default otherwise).
  if (process.env['BENCH_EVENTS_PER_PASS'] !== undefined) store.batchEventsPerPass = envNumber('BENCH_EVENTS_PER_PASS');
  let copying = true;
  const watchdog = setInterval(() => {
    const idle = performance.now() - delivered.at;
    if (copying && idle > stallMs) {
      send({ type: 'stalled', phase, delivered: delivered.records, idleMs: idle });
      process.exit(3);
    }
  }, 1000);
  try {
    await store.migrate();
    let copyDoneAt = 0;
    const started = performance.now();
    delivered.at = started;
    const measured = await withPeakRss(() =>
      runBatch(log, store, logger, {
        cutoffTime,
        // BENCH_COPY_CONCURRENCY: partitions the raw copy copies at once (runBatch's default otherwise).
        ...(process.env['BENCH_COPY_CONCURRENCY'] === undefined ? {} : { copyConcurrency: envNumber('BENCH_COPY_CONCURRENCY') }),
        onProgress: (copied, total) => {
          if (copied >= total && copying) {
            copying = false;
            copyDoneAt = performance.now();
            // Reported at once: the view build that follows may still fail.
            send({ type: 'copied', phase, rows: copied, copyMs: copyDoneAt - started, peakRss: process.memoryUsage().rss, maxRss: maxRssBytes() });
          }
        },
      }),
    );
    const wallMs = performance.now() - started;
    return { run: measured.value.run, wallMs, copyMs: copyDoneAt === 0 ? Number.NaN : copyDoneAt - started, peakRss: measured.peakRss, rssBefore: measured.rssBefore, statements };
  } catch (err) {
    const failed = statements.filter((st) => !st.ok).pop();
    if (failed !== undefined && err instanceof Error) err.message += ` [failing statement, after ${failed.ms} ms: ${failed.sql}…]`;
    // The store's errors say "unavailable; retry" for the user; the engine's own message (e.g. its memory limit) is the cause.
    if (err instanceof Error && err.cause instanceof Error) err.message += ` [cause: ${err.cause.message.replace(/\s+/g, ' ').slice(0, 240)}]`;
    throw err;
  } finally {
    clearInterval(watchdog);
    await Promise.all([log.close(), store.close()]);
  }
}

async function roleBatch(): Promise<void> {
  const cutoffTime = envNumber('BENCH_CUTOFF');
  const warmTopic = process.env['BENCH_WARM_TOPIC'];
  if (warmTopic !== undefined && warmTopic !== '') {
    const warm = await watchedBatch('warm-up', warmTopic, env('BENCH_WARM_DATABASE'), cutoffTime);
    send({ type: 'warm', peakRss: warm.peakRss, rowsRead: warm.run.rowsRead, wallMs: warm.wallMs });
  }
  const measured = await watchedBatch('measured', env('BENCH_TOPIC'), env('BENCH_DATABASE'), cutoffTime);
  const { run, wallMs, copyMs } = measured;
  send({
    type: 'result',
    wallMs,
    copyMs,
    buildMs: wallMs - copyMs,
    rowsRead: run.rowsRead,
    rowsCounted: run.rowsCounted,
    rowsDuplicate: run.rowsDuplicate,
    rowsInvalid: run.rowsInvalid,
    rssBefore: measured.rssBefore,
    peakRssSampled: measured.peakRss,
    maxRss: maxRssBytes(),
    // The slowest statements of the run (the view build), for the results file.
    statements: [...measured.statements].sort((a, b) => b.ms - a.ms).slice(0, 8),
    // Every statement of the run by shape (the per-statement profile of the view build).
    statementSummary: statementSummary(measured.statements),
  });
}

// ---------------------------------------------------------------------------------------------
// Long-running roles: serving app, hello world, live speed layer, traffic pump
// ---------------------------------------------------------------------------------------------

/** Calls and time per method of a view store (bench instrumentation: which reads a request waits for). */
type StoreTrace = Record<string, { calls: number; totalMs: number }>;

function traced<S extends object>(store: S, trace: StoreTrace): S {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]): unknown => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        const started = performance.now();
        const entry = (trace[prop] ??= { calls: 0, totalMs: 0 });
        return result.finally(() => {
          entry.calls += 1;
          entry.totalMs += performance.now() - started;
        });
      };
    },
  });
}

function traceSummary(trace: StoreTrace): Record<string, { calls: number; avgMs: number }> {
  return Object.fromEntries(Object.entries(trace).map(([k, v]) => [k, { calls: v.calls, avgMs: Math.round((v.totalMs / Math.max(1, v.calls)) * 100) / 100 }]));
}

/**
 * The route that answers a constant through the read routes' whole stack (ServingAppDeps's
 * `constantProbe`: issue #14's middleware share); the harness loads it like the API.
 */
const CONSTANT_PROBE_PATH = '/api/v1/stats/constant-probe';

/**
 * The serving deps of `npm start`: its configuration's views (the budget from
 * BENCH_SERVING_BUDGET_MB), caught up before the app listens, refreshed after every flush of a
 * speed layer in the same process; and the constant probe (the read stack's own cost).
 */
async function servingDeps(
  parts: Pick<PlatformAppDeps, 'log' | 'controlLog' | 'store' | 'metrics'>,
  speed: SpeedLayer | null = null,
): Promise<PlatformAppDeps & { views: ServingViews }> {
  // npm start's configuration for the store's kind (a ClickHouse URL selects its defaults), with
  // SERVING_* variables of this worker's environment applied (to run a bench with another setting).
  const serving = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SERVING_')));
  const config = loadConfig({
    ...(parts.store instanceof ClickHouseViewStore ? { CLICKHOUSE_URL: env('BENCH_CLICKHOUSE_URL') } : {}),
    SERVING_MEMORY_BUDGET_MB: String(servingMemoryBudgetBytes() / (1024 * 1024)),
    ...serving,
  });
  const views = ServingViews.fromConfig(parts.store, config, logger, parts.metrics);
  speed?.onCheckpointed((flush) => views.handOff(flush));
  await views.start();
  // The collector's edge as a bench needs it: one load generator from one address, so no rate
  // limits; BENCH_TRUST_PROXY lets requests carry their client address; BENCH_ENRICHMENT=off
  // measures the collector without visit fields.
  const trustProxy = process.env['BENCH_TRUST_PROXY'];
  const enrichment = process.env['BENCH_ENRICHMENT'] === 'off' ? { enrich: async () => ({}), enrichSync: () => ({}), isBot: () => false } : new VisitEnrichment({ logger });
  if (enrichment instanceof VisitEnrichment) await enrichment.geoipStatus(); // the country table, before the first request
  return {
    ...parts,
    adminApiKey: null,
    logger,
    views,
    constantProbe: true,
    enrichment,
    collector: { rateLimitPerMinute: 0, serverRateLimitPerMinute: 0 },
    ...(trustProxy === undefined ? {} : { trustProxy: trustProxy.split(',') }),
  };
}

function servingMemoryBudgetBytes(): number {
  return envNumber('BENCH_SERVING_BUDGET_MB', ENVIRONMENT_VARIABLES.SERVING_MEMORY_BUDGET_MB.default) * 1024 * 1024;
}

/** process.memoryUsage() after a full GC (when the worker runs with --expose-gc). */
function memoryAfterGc(): Record<string, unknown> {
  const collected = typeof (globalThis as { gc?: unknown }).gc === 'function';
  gc();
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapTotal, heapUsed, external, arrayBuffers, maxRss: maxRssBytes(), gc: collected };
}

async function roleServing(): Promise<void> {
  const log = kafkaLog(env('BENCH_TOPIC'));
  const trace: StoreTrace = {};
  const store = traced(clickhouseStore(env('BENCH_DATABASE')), trace);
  // The batch control topic is only written by admin routes, which stay disabled here.
  const controlLog = new KafkaEventLog({ brokers: env('BENCH_BROKERS').split(','), topic: `${log.topic}.batch-control`, partitions: 1, logger });
  const metrics = new PlatformMetrics();
  const deps = await servingDeps({ log, controlLog, store, metrics });
  const app = createPlatformApp(deps);
  const server = await listen(app);
  // BENCH_MEMORY_REPORT=1: each SIGUSR2 also sends a 'memory' message (after a full GC).
  const reportMemory = process.env['BENCH_MEMORY_REPORT'] === '1';
  const budgetBytes = servingMemoryBudgetBytes();
  // 'trace' messages: the store calls and the event loop's delays since the last one (the harness asks with SIGUSR2).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  process.on('SIGUSR2', () => {
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    void metrics.servingFallbackReads.get().then((fallbacks) => {
      const fallbackReads = Object.fromEntries(fallbacks.values.map((v) => [String(v.labels['reason']), v.value]));
      send({ type: 'trace', store: traceSummary(trace), fallbackReads, loopDelay: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) } });
      loopDelay.reset();
      for (const k of Object.keys(trace)) delete trace[k];
    });
    if (reportMemory) send({ type: 'memory', ...memoryAfterGc(), budgetBytes });
  });
  // 'ready' only once the handler is installed: the harness may signal as soon as it reads it,
  // and SIGUSR2 without a handler kills the process.
  send({ type: 'ready', port: portOf(server), constantPath: CONSTANT_PROBE_PATH, budgetBytes });
  await untilStopped();
  await closeServer(server);
  await Promise.all([log.close(), controlLog.close(), store.close()]);
}

async function roleHello(): Promise<void> {
  const app = express();
  // Any path: the fixed-rate reference is offered the API's own requests.
  app.get('/{*rest}', (_req, res) => {
    res.send('Hello World!');
  });
  const server = await listen(app);
  send({ type: 'ready', port: portOf(server) });
  await untilStopped();
  await closeServer(server);
}

async function roleSpeedLive(): Promise<void> {
  const log = kafkaLog(env('BENCH_TOPIC'));
  const store = clickhouseStore(env('BENCH_DATABASE'));
  const metrics = new PlatformMetrics();
  const speed = new SpeedLayer(log, store, logger, metrics, {
    groupId: env('BENCH_GROUP'),
    flushIntervalMs: envNumber('BENCH_FLUSH_MS', SPEED_LAYER_DEFAULTS.flushIntervalMs),
  });
  await speed.start();
  send({ type: 'ready' });
  // Every 5 s: flushes, their mean time and what they wrote (to tell a slow store from a slow layer).
  const timeline: Record<string, number>[] = [];
  let last = await flushTotals(metrics);
  const sampler = setInterval(() => {
    void flushTotals(metrics).then((now) => {
      const flushes = now.flushes - last.flushes;
      timeline.push({
        at: Date.now(),
        flushes,
        meanFlushMs: flushes === 0 ? 0 : Math.round(((now.seconds - last.seconds) / flushes) * 1000),
        rows: now.rows - last.rows,
        sketchBytes: now.sketchBytes - last.sketchBytes,
      });
      last = now;
    });
  }, 5000);
  await untilStopped();
  clearInterval(sampler);
  await speed.stop();
  send({ type: 'result', outcomes: await outcomes(metrics), maxRss: maxRssBytes(), timeline });
  await Promise.all([log.close(), store.close()]);
}

async function flushTotals(metrics: PlatformMetrics): Promise<{ flushes: number; seconds: number; rows: number; sketchBytes: number }> {
  const histogram = (await metrics.speedFlushDuration.get()).values;
  const value = (name: string): number => histogram.find((v) => v.metricName === name)?.value ?? 0;
  const rows = (await metrics.speedRowsWritten.get()).values.reduce((sum, v) => sum + v.value, 0);
  const sketchBytes = (await metrics.speedSketchBytesWritten.get()).values[0]?.value ?? 0;
  return { flushes: value('pv_speed_flush_duration_seconds_count'), seconds: value('pv_speed_flush_duration_seconds_sum'), rows, sketchBytes };
}

async function rolePump(): Promise<void> {
  const log = kafkaLog(env('BENCH_TOPIC'));
  await log.ensureTopic();
  const rate = envNumber('BENCH_RATE');
  const pump = new TrafficPump(log, logger, {
    rate,
    durationMs: envNumber('BENCH_DURATION_MS'),
    pages: envNumber('BENCH_PAGES', 1000),
    seed: envNumber('BENCH_SEED', 42),
  });
  const started = performance.now();
  const done = pump.start();
  send({ type: 'ready' });
  await Promise.race([done, untilStopped()]);
  const sent = await pump.stop();
  const elapsedMs = performance.now() - started;
  send({ type: 'result', sent, elapsedMs, rate: sent / (elapsedMs / 1000), target: rate });
  await log.close();
}

// ---------------------------------------------------------------------------------------------
// Collector reference: a bare kafkajs producer sending the collector benchmark's batches
// ---------------------------------------------------------------------------------------------

async function roleProducerRef(): Promise<void> {
  const topic = env('BENCH_TOPIC');
  const concurrency = envNumber('BENCH_CONCURRENCY');
  const batchSize = envNumber('BENCH_BATCH');
  const windows = (process.env['BENCH_WINDOWS_MS'] ?? '').split(',').map(Number).filter((n) => n > 0);
  const maxBatches = envNumber('BENCH_MAX_BATCHES');
  const batches = collectorBatches(envNumber('BENCH_BODIES'), batchSize, envNumber('BENCH_NOW')).map((events) =>
    events.map((e) => ({ key: pageViewKey(e), value: encodePageView(e) })),
  );
  const kafka = new kafkajs.Kafka({ brokers: env('BENCH_BROKERS').split(','), clientId: 'pv-bench-ref', logLevel: kafkajs.logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    send({ type: 'ready' });
    let next = 0;
    // Window 0 is the warm-up; each later one is a repetition.
    for (const [i, windowMs] of windows.entries()) {
      let sent = 0;
      const deadline = performance.now() + windowMs;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < deadline && sent < maxBatches && !stopRequested) {
            const messages = batches[next++ % batches.length]!;
            await producer.send({ topic, acks: -1, messages });
            sent += 1;
          }
        }),
      );
      const elapsedMs = performance.now() - started;
      send({ type: 'window', window: i, batches: sent, events: sent * batchSize, elapsedMs, eventsPerSec: (sent * batchSize) / (elapsedMs / 1000) });
    }
  } finally {
    await producer.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// Embedded mode: the embedded log and DuckDB belong to one process, so all of it runs here
// ---------------------------------------------------------------------------------------------

/** Milliseconds to read every record of `log` with readRange (no decoding, no state); throws unless there are `expected`. */
async function timedReadAll(log: EmbeddedEventLog, expected: number): Promise<number> {
  const started = performance.now();
  let records = 0;
  for (const [partition, end] of await log.endOffsets()) {
    await log.readRange({ partition, fromOffset: 0, toOffset: end, onRecords: async (r) => void (records += r.length) });
  }
  if (records !== expected) throw new Error(`readRange read ${records} of ${expected} records`);
  return performance.now() - started;
}

/** Appends `count` events to `log` in appends of 5,000, as a collector or the built-in generator would batch. */
async function appendEvents(log: EmbeddedEventLog, count: number, make: (i: number) => PageView): Promise<void> {
  for (let i = 0; i < count; i += 5000) {
    const chunk = [];
    for (let j = i; j < Math.min(count, i + 5000); j++) {
      const e = make(j);
      chunk.push({ key: pageViewKey(e), value: encodePageView(e) });
    }
    await log.append(chunk);
  }
}

async function roleEmbedded(): Promise<void> {
  const dir = env('BENCH_DIR');
  const events = envNumber('BENCH_EVENTS');
  const reps = envNumber('BENCH_REPS');
  const partitions = 4;
  const ingestLog = new EmbeddedEventLog({ dataDir: path.join(dir, 'log'), topic: 'bench-ingest', partitions, logger });
  const now = Date.now();
  // Fill (setup): appends of 5,000 events, as a collector or the built-in generator would batch.
  const fillStarted = performance.now();
  await appendEvents(ingestLog, events, spreadEvents(events, now - 5 * MINUTE_MS, now - MINUTE_MS));
  send({ type: 'filled', events, fillMs: performance.now() - fillStarted });

  // Reference: reading the same records with readRange (no decoding, no state), warm-up + reps.
  const readAll = (): Promise<number> => timedReadAll(ingestLog, events);
  await readAll();
  const readMs: number[] = [];
  for (let rep = 0; rep < reps; rep++) readMs.push(await readAll());

  // Speed layer on the embedded log into a fresh DuckDB file per repetition (rep -1: warm-up).
  const ingest: Record<string, unknown>[] = [];
  for (let rep = -1; rep < reps; rep++) {
    const store = await DuckDbViewStore.open({ path: path.join(dir, `speed-${rep + 1}.duckdb`) });
    await store.migrate();
    const metrics = new PlatformMetrics();
    const speed = new SpeedLayer(ingestLog, store, logger, metrics, { groupId: `bench-speed-${rep + 1}` });
    try {
      const run = await runUntilCaughtUp(speed, store, events, envNumber('BENCH_MAX_MS', 600_000));
      if (rep >= 0) ingest.push({ ...run, eventsPerSec: events / (run.ingestMs / 1000), outcomes: await outcomes(metrics) });
    } finally {
      await speed.stop();
      await store.close();
    }
  }
  send({ type: 'ingest', readMs, ingest, maxRss: maxRssBytes() });

  // Issue #19's embedded row: one batch run (raw copy and views into a fresh DuckDB file) over
  // `events` events spread over the 30 days before the cutoff, all of them counted, against
  // readRange of the same records after it (the files as warm as the run left them).
  const cutoff = Math.floor(now / HOUR_MS) * HOUR_MS;
  const batchLog = new EmbeddedEventLog({ dataDir: path.join(dir, 'log'), topic: 'bench-batch', partitions, logger });
  await appendEvents(batchLog, events, spreadEvents(events, cutoff - 30 * DAY_MS, cutoff - 1, { seed: 3 }));
  const batchStore = await DuckDbViewStore.open({ path: path.join(dir, 'batch.duckdb') });
  let batchMs: number;
  try {
    await batchStore.migrate();
    const batchStarted = performance.now();
    const { run } = await runBatch(batchLog, batchStore, logger, { cutoffTime: cutoff });
    batchMs = performance.now() - batchStarted;
    if (run.rowsCounted !== events) throw new Error(`the embedded batch run counted ${run.rowsCounted} of ${events} events`);
  } finally {
    await batchStore.close();
  }
  const batchReadMs = await timedReadAll(batchLog, events);
  send({ type: 'batch', batchMs, batchReadMs, batchEvents: events, maxRss: maxRssBytes() });

  // Serving: batch views of pages × days (runBatch), a live speed layer fed by the built-in
  // generator, and the API on 127.0.0.1 for the parent's load generator.
  const pages = envNumber('BENCH_PAGES');
  const days = envNumber('BENCH_DAYS');
  const servingLog = new EmbeddedEventLog({ dataDir: path.join(dir, 'log'), topic: 'bench-serving', partitions, logger });
  const grid = gridEvents(pages, days * 24, cutoff);
  await appendEvents(servingLog, pages * days * 24, grid);
  const store = await DuckDbViewStore.open({ path: path.join(dir, 'serving.duckdb') });
  await store.migrate();
  await runBatch(servingLog, store, logger, { cutoffTime: cutoff });
  // The live speed layer starts at the end of the log: the backlog is the batch layer's.
  const groupId = 'bench-serving-speed';
  const ends = await servingLog.endOffsets();
  const metrics = new PlatformMetrics();
  const consumer = await servingLog.consume({ groupId, eachBatch: async () => undefined });
  await consumer.commit(ends);
  await consumer.stop();
  const speed = new SpeedLayer(servingLog, store, logger, metrics, { groupId });
  await speed.start();
  const pump = new TrafficPump(servingLog, logger, { rate: envNumber('BENCH_LIVE_RATE'), pages, durationMs: envNumber('BENCH_MAX_MS', 600_000) });
  void pump.start();
  const controlLog = new EmbeddedEventLog({ dataDir: path.join(dir, 'log'), topic: 'bench-serving.batch-control', partitions: 1, logger });
  const deps = await servingDeps({ log: servingLog, controlLog, store, metrics }, speed);
  const app = createPlatformApp(deps);
  const server = await listen(app);
  send({ type: 'ready', port: portOf(server), constantPath: CONSTANT_PROBE_PATH, cutoff, days, pages });
  await untilStopped();
  await closeServer(server);
  deps.views.stop();
  await pump.stop();
  await speed.stop();
  await store.close();
  await Promise.all([ingestLog.close(), servingLog.close(), controlLog.close()]);
  send({ type: 'result', maxRss: maxRssBytes(), pumped: pump.eventsSent, speedOutcomes: await outcomes(metrics) });
}

/**
 * The speed layer's state alone, measured exactly: BENCH_EXPECT events over BENCH_PAGES distinct
 * pages in one minute, each decoded from its bytes as the speed layer decodes it, split by key
 * over BENCH_PARTITIONS partitions and applied to PartitionStates with the default options
 * (BENCH_DIMENSIONS and BENCH_SESSIONS turn those parts off), then snapshotted and checkpointed. The live heap they hold after a full GC (heap used +
 * external, minus the same before) is compared with the byte budget's count, which
 * pv_speed_state_bytes publishes.
 */
async function roleSpeedState(): Promise<void> {
  const pages = envNumber('BENCH_PAGES');
  const count = envNumber('BENCH_EXPECT');
  const partitions = envNumber('BENCH_PARTITIONS', 4);
  // BENCH_VALUES > 0: events with that many distinct values of each visit property (bench/events.ts distinctValueEvents).
  const values = envNumber('BENCH_VALUES', 0);
  const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
  const make = values > 0 ? distinctValueEvents(count, pages, values, minute, minute + MINUTE_MS - 1000) : distinctPageEvents(count, pages, minute, minute + MINUTE_MS - 1000);
  const live = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };
  const budget = new ByteBudget(SPEED_LAYER_DEFAULTS.memoryBudgetBytes);
  const now = Date.now();
  const states = Array.from({ length: partitions }, (_, p) => new PartitionState(p, { ...SPEED_LAYER_DEFAULTS, ...layerOptions(), now: () => now }, budget));
  const offsets = new Array<number>(partitions).fill(0);
  gc();
  const before = live();
  // As in the speed layer, each event is decoded from its bytes and dropped once applied: what
  // stays alive is what the state keeps (its entries, sketches and the strings they hold).
  for (let i = 0; i < count; i++) {
    const event = make(i);
    const result = decodePageView(Buffer.from(encodePageView(event)));
    if (!result.ok) throw new Error(`event ${i} does not decode`);
    const partition = partitionForKey(pageViewKey(event), partitions);
    states[partition]!.apply(offsets[partition]!++, result.event);
  }
  // Where the keys went: exact page-minute counters and overflow (Count-Min + top-K) events,
  // for the pages and for the dimension sites ('site|property') apart.
  const keys = { exactPageKeys: 0, exactDimensionKeys: 0, overflowPageEvents: 0, overflowDimensionEvents: 0, overflowBuckets: 0 };
  for (const state of states) {
    const snapshot = state.snapshot(1);
    for (const r of snapshot.rows.pageMinutes) {
      if (isDimensionSite(r.site)) keys.exactDimensionKeys += 1;
      else keys.exactPageKeys += 1;
    }
    for (const r of snapshot.rows.overflow) {
      keys.overflowBuckets += 1;
      if (isDimensionSite(r.site)) keys.overflowDimensionEvents += r.total;
      else keys.overflowPageEvents += r.total;
    }
    state.checkpointed(snapshot);
  }
  gc();
  const stateLive = live() - before;
  send({
    type: 'result',
    stateLive,
    gauge: budget.used,
    budgetBytes: SPEED_LAYER_DEFAULTS.memoryBudgetBytes,
    budgetFull: budget.full,
    exactKeys: states.reduce((sum, s) => sum + s.size, 0),
    openSessions: states.reduce((sum, s) => sum + (s.sessions?.activeVisitors ?? 0), 0),
    ...keys,
    events: count,
  });
}

/** The session state alone (bench/memory-sessions.ts) with BENCH_VISITORS active visitors. */
async function roleSessionMemory(): Promise<void> {
  send({ type: 'result', ...sessionMemory(envNumber('BENCH_VISITORS')) });
}

// ---------------------------------------------------------------------------------------------

const roles: Record<string, () => Promise<void>> = {
  speed: roleSpeed,
  'speed-state': roleSpeedState,
  'session-memory': roleSessionMemory,
  batch: roleBatch,
  serving: roleServing,
  hello: roleHello,
  'speed-live': roleSpeedLive,
  pump: rolePump,
  'producer-ref': roleProducerRef,
  embedded: roleEmbedded,
};

const role = process.argv[2] ?? '';
const main = roles[role];
if (main === undefined) {
  send({ type: 'error', message: `unknown role '${role}' (one of ${Object.keys(roles).join(', ')})` });
  process.exit(2);
}
try {
  await main();
  process.exit(0);
} catch (err) {
  logger.error({ err }, 'bench worker failed');
  send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
