import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { ClickHouseViewStore } from '../../shared/adapters/view-store/index.ts';
import { describeViewStoreContract } from './view-store.contract.ts';
import { missingInfra } from '../support/infra.ts';

const url = inject('infra').clickhouseUrl;

describeViewStoreContract(
  'ClickHouse',
  async () => {
    const store = new ClickHouseViewStore({ url: url ?? '', database: `t_${randomUUID().replace(/-/g, '')}` });
    return {
      store,
      cleanup: async () => {
        await store.dropDatabase();
        await store.close();
      },
    };
  },
  { skip: missingInfra('ClickHouse') },
);
