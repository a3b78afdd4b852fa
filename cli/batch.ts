/**
 * `npm run batch -- --now [--cutoff 2026-01-31T00:00:00Z] [--full] [--dry-run]`
 * Runs one batch recompute, then exits. The cutoff is the start of the current UTC hour (the
 * last full hour) unless --cutoff names another hour: the views are built per hour.
 *
 * When `npm start` holds DATA_DIR (the embedded default), the run is asked of it over HTTP
 * (POST /api/v1/batch/runs with ADMIN_API_KEY) and followed until it ends; otherwise this
 * process opens the log and the store and runs it itself. Either way it prints the same record.
 */
import { BatchControl } from '../batch-layer/index.ts';
import { lastFullHour, planBatch, runBatch } from '../batch-layer/index.ts';
import { publicRunError, runBody } from '../serving-layer/index.ts';
import { openBackends } from '../shared/runtime/backends.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { createLogger } from '../shared/runtime/logger.ts';
import { runCli } from './args.ts';
import { BATCH_USAGE, parseBatchFlags } from './flags.ts';
import { openingDataDir, serverHoldingDataDir, type PlatformClient } from './running-server.ts';

/** How long to wait for the batch lease before giving up (another scheduler may hold it). */
const LEASE_WAIT_MS = 20_000;
/** How long a requested run may take to start on the server before this gives up (ms). */
const RUN_START_WAIT_MS = 60_000;
/** How often the server's run history is read while following a run (ms). */
const FOLLOW_INTERVAL_MS = 500;

const iso = (ms: number): string => new Date(ms).toISOString();

/** A run as GET /api/v1/batch/runs answers it (runBody). */
interface RunAnswer {
  batchId: string;
  status: string;
  startedAt: string;
  error: string | null;
  [field: string]: unknown;
}

void runCli(async () => {
  const flags = parseBatchFlags(process.argv.slice(2));
  if (flags.help) {
    console.log(BATCH_USAGE);
    return 0;
  }
  const config = loadConfig(process.env);
  const cutoffTime = flags.cutoffTime ?? lastFullHour(Date.now());
  const server = await serverHoldingDataDir(config, { embeddedLog: true, duckdb: true });
  if (server !== null) return runThroughServer(server, { cutoffTime, full: flags.full, dryRun: flags.dryRun });

  const { dryRun } = flags;
  const options = { cutoffTime, full: flags.full };
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const backends = await openingDataDir(config, () => openBackends(config, logger));
  try {
    if (dryRun) {
      const plan = await planBatch(backends.log, backends.store, options);
      console.log(JSON.stringify({ ...plan, cutoffTime: iso(plan.cutoffTime) }, null, 2));
      return 0;
    }
    const control = new BatchControl(backends.controlLog, logger, { onRequest: () => undefined });
    await control.start();
    try {
      if (!(await control.waitHeld(LEASE_WAIT_MS))) {
        throw new Error(
          'another batch scheduler holds the batch lease, so this process may not run the batch; ' +
            'request the run from it: POST /api/v1/batch/runs (with the admin token)',
        );
      }
      console.error(`batch run: exact through ${iso(cutoffTime)} (the views are built per UTC hour; events after it stay with the speed layer)`);
      const tty = process.stderr.isTTY;
      const started = Date.now();
      // The run's own log says what this command prints itself (its record, or its error in one
      // line): shown only when LOG_LEVEL asks for it (a failure's log has the engine's full text).
      const runLogger = config.logLevel === 'info' ? createLogger({ level: 'silent' }) : logger.child({ module: 'batch-layer' });
      const result = runBatch(backends.log, backends.store, runLogger, {
        ...options,
        leaseHeld: () => control.held(),
        onProgress: (copied, total) => {
          if (!tty || total === 0) return;
          const seconds = (Date.now() - started) / 1000;
          const rate = copied / Math.max(seconds, 0.001);
          const eta = rate > 0 ? (total - copied) / rate : 0;
          const width = 30;
          const done = Math.round((width * copied) / total);
          process.stderr.write(
            `\r  [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${copied.toLocaleString('en')}/${total.toLocaleString('en')}  ` +
              `${Math.round(rate).toLocaleString('en')} rows/s  ETA ${eta.toFixed(0)}s `,
          );
        },
      });
      const { run } = await result.catch((err: unknown) => {
        if (tty) process.stderr.write('\n');
        const message = err instanceof Error ? err.message : String(err);
        throw new Error(`${publicRunError(message)} (the run history has it: GET /api/v1/batch/runs; LOG_LEVEL=debug shows the full message)`);
      });
      if (tty) process.stderr.write('\n');
      console.log(JSON.stringify(runBody(run), null, 2));
    } finally {
      await control.stop();
    }
  } finally {
    await backends.close();
  }
  return 0;
});

/** Asks the running server for the run, follows it in the server's run history, prints its record. */
async function runThroughServer(server: PlatformClient, options: { cutoffTime: number; full: boolean; dryRun: boolean }): Promise<number> {
  const who = `npm start (pid ${server.server.pid}, ${server.url})`;
  if (options.dryRun) {
    throw new Error(`--dry-run reads DATA_DIR itself, and ${who} holds it: stop the server first, or run without --dry-run (e.g. npm run batch -- --now)`);
  }
  console.error(`batch run: asking ${who}, which holds DATA_DIR; exact through ${iso(options.cutoffTime)} (the views are built per UTC hour; events after it stay with the speed layer)`);
  const requestedAt = Date.now();
  const body = JSON.stringify({ cutoff: iso(options.cutoffTime), ...(options.full ? { full: true } : {}) });
  const request = await server.request<{ requestId: string }>('POST', '/api/v1/batch/runs', { body, admin: true });
  const tty = process.stderr.isTTY;
  let followed: string | null = null;
  for (;;) {
    const { runs } = await server.request<{ runs: RunAnswer[] }>('GET', '/api/v1/batch/runs?limit=10');
    // The run that took the request: one started after it, else the one running (a request joins it).
    const run: RunAnswer | undefined =
      followed === null
        ? (runs.find((r) => Date.parse(r.startedAt) >= requestedAt - 1000) ?? runs.find((r) => r.status === 'running'))
        : runs.find((r) => r.batchId === followed);
    if (run !== undefined) {
      followed = run.batchId;
      if (run.status !== 'running') {
        if (tty) process.stderr.write('\n');
        console.log(JSON.stringify(run, null, 2));
        if (run.status !== 'success') throw new Error(`batch run ${run.batchId} ${run.status}: ${run.error ?? 'no error recorded'} (the server's log has the details)`);
        return 0;
      }
    } else if (Date.now() - requestedAt > RUN_START_WAIT_MS) {
      throw new Error(
        `${who} took the request (${request.requestId}) but no run started within ${RUN_START_WAIT_MS / 1000} s: ` +
          'does it run the batch role (ROLES includes batch)? Its run history is at GET /api/v1/batch/runs.',
      );
    }
    if (tty) process.stderr.write(`\r  ${run === undefined ? 'waiting for the run to start' : `running (${run.batchId})`}  ${((Date.now() - requestedAt) / 1000).toFixed(1)}s `);
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_INTERVAL_MS));
  }
}
