/**
 * `npm run batch -- --now [--cutoff 2026-01-31T00:00:00Z] [--full] [--dry-run]`
 * Runs one batch recompute against the configured log and store, then exits.
 */
import { BatchControl } from '../batch-layer/index.ts';
import { planBatch, runBatch } from '../batch-layer/index.ts';
import { openBackends, type Backends } from '../shared/runtime/backends.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { isPlatformError } from '../shared/core/errors.ts';
import { createLogger } from '../shared/runtime/logger.ts';
import { runCli } from './args.ts';
import { BATCH_USAGE, parseBatchFlags } from './flags.ts';

/** How long to wait for the batch lease before giving up (another scheduler may hold it). */
const LEASE_WAIT_MS = 20_000;

void runCli(async () => {
  const flags = parseBatchFlags(process.argv.slice(2));
  if (flags.help) {
    console.log(BATCH_USAGE);
    return 0;
  }
  const { dryRun } = flags;
  const options = { ...(flags.cutoffTime === undefined ? {} : { cutoffTime: flags.cutoffTime }), full: flags.full };
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel });

  let backends: Backends;
  try {
    backends = await openBackends(config, logger);
  } catch (err) {
    if (isPlatformError(err, 'PV_LOG_UNAVAILABLE') && config.kafkaBrokers === null) {
      throw new Error(
        `${err.message}\nThe embedded log in ${config.dataDir} belongs to another process (is \`npm start\` running?). ` +
          'Ask that process instead: curl -X POST -H "Authorization: Bearer $ADMIN_API_KEY" http://127.0.0.1:3000/api/v1/batch/runs',
      );
    }
    throw err;
  }
  try {
    if (dryRun) {
      const plan = await planBatch(backends.log, backends.store, options);
      console.log(JSON.stringify({ ...plan, cutoffTime: new Date(plan.cutoffTime).toISOString() }, null, 2));
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
      const tty = process.stderr.isTTY;
      const started = Date.now();
      const { run } = await runBatch(backends.log, backends.store, logger.child({ module: 'batch-layer' }), {
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
      if (tty) process.stderr.write('\n');
      console.log(JSON.stringify({ ...run, durationMs: (run.finishedAt ?? started) - run.startedAt }, null, 2));
    } finally {
      await control.stop();
    }
  } finally {
    await backends.close();
  }
  return 0;
});
