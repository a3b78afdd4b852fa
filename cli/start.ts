/**
 * `npm start`: runs the layers named by ROLES (all by default) in this process.
 * Without KAFKA_BROKERS / CLICKHOUSE_URL it runs on the embedded log and DuckDB in
 * DATA_DIR, with the built-in traffic generator on; on an empty DATA_DIR it first back-fills
 * generated history and runs one batch over it (cli/first-run.ts), before the server listens.
 */
import { randomInt } from 'node:crypto';
import type { Server } from 'node:http';
import { BatchControl, runOptionsOf } from '../batch-layer/index.ts';
import { BatchScheduler } from '../batch-layer/index.ts';
import { openBackends, type Backends } from '../shared/runtime/backends.ts';
import { loadConfig, type PlatformConfig } from '../shared/runtime/config.ts';
import { isPlatformError } from '../shared/core/errors.ts';
import { createLogger } from '../shared/runtime/logger.ts';
import { localUrl, recordServerAddress, serverAddressFile } from '../shared/runtime/server-address.ts';
import { PlatformMetrics } from '../shared/runtime/metrics.ts';
import { TrafficPump } from '../shared/tools/traffic-pump.ts';
import type { TrafficOptions } from '../shared/tools/traffic-generator.ts';
import { isFreshDataDir, runFirstRun } from './first-run.ts';
import { createPlatformApp } from './platform-app.ts';
import { VisitEnrichment, VisitorSalts } from '../collector/index.ts';
import { SpeedLayer } from '../speed-layer/index.ts';
import { ServingViews } from '../serving-layer/index.ts';

function readConfig(): PlatformConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    console.error(isPlatformError(err) ? err.message : err);
    process.exit(2);
  }
}

const config = readConfig();
const logger = createLogger({ level: config.logLevel });
const metrics = new PlatformMetrics({ processMetrics: true });
const mode = `${config.kafkaBrokers === null ? 'embedded log' : 'Kafka'} + ${config.clickhouseUrl === null ? 'DuckDB' : 'ClickHouse'}`;
logger.info({ roles: config.roles, mode, dataDir: config.dataDir }, 'starting');

let backends: Backends;
try {
  backends = await openBackends(config, logger);
} catch (err) {
  logger.fatal({ err }, 'cannot open the log or the view store');
  process.exit(1);
}
const { log, controlLog, store } = backends;

const stops: (() => Promise<unknown>)[] = [];

/** The built-in generator's traffic: its live pump and the first run's history look alike. */
const GENERATOR_TRAFFIC: TrafficOptions = { visitFields: true };
// Decided before anything appends to the log: a fresh DATA_DIR gets history (cli/first-run.ts).
const firstRun = config.generator && config.generatorHistoryDays > 0 && (await isFreshDataDir(log, store));

// The serving layer's views: caught up from the store before the server listens, then refreshed
// every SERVING_REFRESH_INTERVAL_MS, and after every speed flush when the speed layer runs here.
const views = config.roles.includes('serving') ? ServingViews.fromConfig(store, config, logger.child({ module: 'serving-views' }), metrics) : null;

let batchScheduler: BatchScheduler | null = null;
if (config.roles.includes('batch')) {
  const batchLogger = logger.child({ module: 'batch-layer' });
  // The lease decides which scheduler instance runs; run requests arrive on the control topic.
  let scheduler: BatchScheduler | null = null;
  const control = new BatchControl(controlLog, batchLogger, {
    onRequest: async (request) => {
      await scheduler?.trigger(runOptionsOf(request));
    },
  });
  scheduler = new BatchScheduler(log, store, batchLogger, metrics, {
    cron: config.batchCron,
    timezone: config.batchTimezone,
    leaseHeld: () => control.held(),
  });
  await control.start();
  scheduler.start();
  batchScheduler = scheduler;
  const started = scheduler;
  stops.push(async () => {
    await started.stop();
    await control.stop();
  });
}

// The first run's history and the batch run over it come before the speed layer consumes (so it
// knows the boundary and leaves the history to the batch layer) and before the server listens.
let firstRunPublished = false;
if (firstRun) {
  const scheduler = batchScheduler;
  try {
    const result = await runFirstRun(log, logger.child({ module: 'first-run' }), {
      days: config.generatorHistoryDays,
      eventsPerDay: config.generatorHistoryEventsPerDay,
      traffic: GENERATOR_TRAFFIC,
      runBatch: scheduler === null ? null : (options) => scheduler.trigger(options),
      store,
    });
    firstRunPublished = result.batch !== null;
  } catch (err) {
    logger.error({ err }, 'first run: the history back-fill failed; starting without it');
  }
}

if (config.roles.includes('speed')) {
  const speed = new SpeedLayer(log, store, logger.child({ module: 'speed-layer' }), metrics, {
    flushIntervalMs: config.speedFlushIntervalMs,
    flushIdleIntervalMs: config.speedFlushIdleIntervalMs,
    hotWindowMs: config.speedHotWindowMs,
    sketchIntervalMs: config.speedSketchIntervalMs,
    memoryBudgetBytes: config.speedMemoryBudgetMb * 1024 * 1024,
    maxFutureSkewMs: config.speedMaxFutureSkewMs,
    maxExactKeys: config.speedMaxExactKeys,
    cmsEpsilon: config.speedCmsEpsilon,
    cmsDelta: config.speedCmsDelta,
    hllPrecision: config.speedHllPrecision,
    retentionMarginMs: config.speedRetentionMarginMs,
  });
  if (views !== null) speed.onCheckpointed((flush) => views.handOff(flush));
  // It reads the boundary at its first flush; after the first run it must know it before consuming the history.
  if (firstRunPublished) await speed.applyRetention(true);
  await speed.start();
  stops.push(() => speed.stop());
}

if (config.generator) {
  // A seed per start: the same seed would append the previous start's event ids again, which the
  // batch layer drops as duplicates while the speed layer counts them.
  const pump = new TrafficPump(log, logger.child({ module: 'generator' }), { ...GENERATOR_TRAFFIC, seed: randomInt(2 ** 32), rate: config.generatorRate });
  void pump.start();
  stops.push(() => pump.stop());
  logger.info({ rate: config.generatorRate }, 'built-in traffic generator on (GENERATOR=off to disable)');
}

let server: Server | null = null;
if (views !== null) {
  await views.start();
  stops.push(async () => views.stop());
  // The collector serves beside the read API: its visitor-id salts are kept in the store.
  const salts = new VisitorSalts(store, logger.child({ module: 'visitor-salts' }));
  await salts.start();
  stops.push(async () => salts.stop());
  // The country table is built in a worker thread (about 1.5 s): in the background from now,
  // so the first browser events need not wait for it.
  const enrichment = new VisitEnrichment({ geoip: config.geoip, logger: logger.child({ module: 'enrichment' }) });
  void enrichment.geoipStatus().then((geoip) => logger.info({ geoip }, geoip === 'ok' ? 'country lookup ready' : `country lookup ${geoip}`));
  const app = createPlatformApp({
    log,
    controlLog,
    adminApiKey: config.adminApiKey,
    readApiKeys: config.readApiKeys,
    views,
    requestTimeoutMs: config.servingRequestTimeoutMs,
    store,
    metrics,
    logger: logger.child({ module: 'serving-layer' }),
    salts,
    enrichment,
    collector: { rateLimitPerMinute: config.ingestRateLimit, serverRateLimitPerMinute: config.ingestServerRateLimit, allowedOrigins: config.ingestAllowedOrigins },
    trustProxy: config.trustProxy,
  });
  server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  }).catch((err: unknown) => {
    logger.fatal({ err }, `cannot listen on ${config.host}:${config.port} (set PORT to another port)`);
    process.exit(1);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const base = localUrl(config.host, port);
  // Beside the locks it holds: the CLIs find it here and go through its API (cli/running-server.ts).
  // On Kafka + ClickHouse it holds nothing in DATA_DIR, and the CLIs open the services themselves.
  const holds = { embeddedLog: config.kafkaBrokers === null, duckdb: config.clickhouseUrl === null };
  if (holds.embeddedLog || holds.duckdb) {
    try {
      stops.push(await recordServerAddress(config.dataDir, { pid: process.pid, url: base, startedAt: new Date().toISOString(), holds }));
    } catch (err) {
      logger.warn({ err, file: serverAddressFile(config.dataDir) }, 'could not record where this server listens; npm run batch/compare/generate will not find it');
    }
  }
  console.log(
    `\nPage-view analytics (${mode}) is serving at ${base}/api/v1\n` +
      `  dashboard: ${base}/\n` +
      `  try: curl '${base}/api/v1/stats/aggregate?site_id=default&period=day&metrics=pageviews,visitors'\n`,
  );
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  if (server !== null) {
    server.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
  for (const stop of stops.reverse()) {
    await stop().catch((err: unknown) => logger.error({ err }, 'error while stopping'));
  }
  await backends.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
