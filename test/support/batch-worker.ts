/**
 * A batch run for fault tests, in a process of its own: opens the backends from the
 * environment (as the CLIs do) and runs one batch with cutoff BATCH_CUTOFF (epoch ms). Once
 * the raw copy has written some rows, but not all, it prints "paused <rows>/<total>" and
 * blocks, so the test kills it at a point it chose, however busy the machine is. A run that
 * copies everything in one step prints "finished without pausing" and exits 3.
 */
import fs from 'node:fs';
import { runBatch } from '../../batch-layer/index.ts';
import { openBackends } from '../../shared/runtime/backends.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';

const cutoffTime = Number(process.env['BATCH_CUTOFF']);
const insertBatchSize = Number(process.env['BATCH_INSERT_ROWS'] ?? 1000);
const backends = await openBackends(loadConfig(process.env), silentLogger);
await runBatch(backends.log, backends.store, silentLogger, {
  cutoffTime,
  insertBatchSize,
  onProgress: (copied, total) => {
    if (copied === 0 || copied >= total) return;
    fs.writeSync(1, `paused ${copied}/${total}\n`); // synchronous: written before the block
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks this thread until killed
  },
});
fs.writeSync(1, 'finished without pausing\n');
await backends.close();
process.exit(3);
