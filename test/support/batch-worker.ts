/**
 * A batch run for fault tests, in a process of its own: opens the backends from the
 * environment (as the CLIs do) and runs one batch with cutoff BATCH_CUTOFF (epoch ms). It
 * pauses at BATCH_PAUSE_AT: `copy` (the default), once the raw copy has written some rows but
 * not all, printing "paused copy <rows>/<total>"; `build`, once the view build has written
 * some of its visitor passes but not all (BATCH_EVENTS_PER_PASS raw rows per pass),
 * printing "paused build <passes>/<of>". It then blocks, so the test kills it at a point it
 * chose, however busy the machine is. A run that never reaches its pause point prints
 * "finished without pausing" and exits 3.
 */
import fs from 'node:fs';
import { runBatch } from '../../batch-layer/index.ts';
import { openBackends } from '../../shared/runtime/backends.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';

const cutoffTime = Number(process.env['BATCH_CUTOFF']);
const insertBatchSize = Number(process.env['BATCH_INSERT_ROWS'] ?? 1000);
const pauseAt = process.env['BATCH_PAUSE_AT'] ?? 'copy';
if (pauseAt !== 'copy' && pauseAt !== 'build') throw new Error(`BATCH_PAUSE_AT must be copy or build, got ${pauseAt}`);
const backends = await openBackends(loadConfig(process.env), silentLogger);
if (process.env['BATCH_EVENTS_PER_PASS'] !== undefined) backends.store.batchEventsPerPass = Number(process.env['BATCH_EVENTS_PER_PASS']);

/** Prints where it paused and blocks this thread until the test kills the process. */
function pause(where: string, done: number, of: number): void {
  if (where !== pauseAt || done === 0 || done >= of) return;
  fs.writeSync(1, `paused ${where} ${done}/${of}\n`); // synchronous: written before the block
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

await runBatch(backends.log, backends.store, silentLogger, {
  cutoffTime,
  insertBatchSize,
  onProgress: (copied, total) => pause('copy', copied, total),
  // Into the visitor passes: the version's page views are written, its visitors and sessions in part.
  onBuildPass: ({ kind, done, of }) => {
    if (kind === 'visitors') pause('build', done, of);
  },
});
fs.writeSync(1, 'finished without pausing\n');
await backends.close();
process.exit(3);
