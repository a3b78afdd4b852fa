/**
 * `npm run batch -- --now [--cutoff 2026-01-31T00:00:00Z]`
 * Runs one batch recompute against the configured log and store, then exits.
 */
import { runBatch } from '../batch-layer/batch-run.ts';
import { openBackends } from '../shared/backends.ts';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { parseTimestamp } from '../shared/page-view.ts';
import { UsageError, parseFlags, runCli } from './args.ts';

const USAGE = `usage: npm run batch -- --now [--cutoff ISO-8601]
  --now      run one batch recompute now and exit
  --cutoff   exclusive cutoff time, on a UTC hour (default: start of the current UTC day)`;

runCli(async () => {
  const flags = parseFlags(
    process.argv.slice(2),
    { now: { type: 'boolean' }, cutoff: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    USAGE,
  );
  if (flags['help'] === true) {
    console.log(USAGE);
    return 0;
  }
  if (flags['now'] !== true) throw new UsageError(`say --now to run a batch recompute\n\n${USAGE}`);
  let cutoffTime: number | undefined;
  if (typeof flags['cutoff'] === 'string') {
    const parsed = parseTimestamp(flags['cutoff']);
    if (typeof parsed === 'string') throw new UsageError(`--cutoff ${parsed}`);
    cutoffTime = parsed;
  }
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const backends = await openBackends(config, logger);
  try {
    const tty = process.stderr.isTTY;
    const started = Date.now();
    const { run } = await runBatch(backends.log, backends.store, logger.child({ module: 'batch-layer' }), {
      ...(cutoffTime === undefined ? {} : { cutoffTime }),
      onProgress: (copied, total) => {
        if (!tty || total === 0) return;
        const seconds = (Date.now() - started) / 1000;
        const rate = copied / Math.max(seconds, 0.001);
        const eta = rate > 0 ? (total - copied) / rate : 0;
        process.stderr.write(
          `\r  copied ${copied.toLocaleString('en')}/${total.toLocaleString('en')} (${Math.round((100 * copied) / total)}%)  ${Math.round(rate).toLocaleString('en')} rows/s  ETA ${eta.toFixed(0)}s `,
        );
      },
    });
    if (tty) process.stderr.write('\n');
    console.log(JSON.stringify(run, null, 2));
  } finally {
    await backends.close();
  }
  return 0;
});
