import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { describeViewStoreContract } from './view-store.contract.ts';

describeViewStoreContract('DuckDB', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-duckdb-'));
  const store = await DuckDbViewStore.open({ path: path.join(dir, 'views.duckdb') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
});
