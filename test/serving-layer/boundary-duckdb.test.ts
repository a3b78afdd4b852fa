import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEventLog } from '../../shared/event-log/index.ts';
import { DuckDbViewStore } from '../../shared/view-store/index.ts';
import { describeBoundaryCases } from './boundary.scenario.ts';

describeBoundaryCases('DuckDB', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-serving-'));
  const log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
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
