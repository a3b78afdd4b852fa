import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEventLog } from '../../shared/event-log/index.ts';
import { DuckDbViewStore } from '../../shared/view-store/index.ts';
import { describeAccuracy } from './accuracy.scenario.ts';

describeAccuracy('embedded log + DuckDB', async (partitions) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-accuracy-'));
  const log = new EmbeddedEventLog({ dataDir: path.join(dir, 'log'), topic: 'page-views', partitions, pollIntervalMs: 20 });
  const store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
  return {
    log,
    store,
    cleanup: async () => {
      await log.close();
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
});
