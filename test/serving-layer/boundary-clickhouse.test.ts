import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { EmbeddedEventLog } from '../../shared/adapters/event-log/index.ts';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { describeBoundaryCases } from './boundary.scenario.ts';
import { missingInfra } from '../support/infra.ts';

const url = inject('infra').clickhouseUrl;

// The merge reads only the view store; the log is not involved, so the embedded one serves.
describeBoundaryCases(
  'ClickHouse',
  async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-serving-'));
    const log = new EmbeddedEventLog({ dataDir: dir, topic: 'page-views' });
    const store = new ClickHouseViewStore({ url: url ?? '', database: `t_${randomUUID().replace(/-/g, '')}` });
    return {
      log,
      store,
      cleanup: async () => {
        await log.close();
        await store.dropDatabase();
        await store.close();
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  },
  { skip: missingInfra('ClickHouse') },
);
