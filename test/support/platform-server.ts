/**
 * The platform's HTTP app (collector and serving routers) on fresh backends, listening on an
 * ephemeral 127.0.0.1 port, for end-to-end scenarios. `close` stops the server and cleans the
 * backends up.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createPlatformApp } from '../../cli/platform-app.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import type { TestBackends } from './backends.ts';

export interface ServedPlatform extends Pick<TestBackends, 'log' | 'store'> {
  /** `http://127.0.0.1:<port>/api/v1` */
  base: string;
  close(): Promise<void>;
}

export async function servePlatform(factory: () => Promise<TestBackends>): Promise<ServedPlatform> {
  const { log, store, cleanup } = await factory();
  await log.ensureTopic();
  await store.migrate();
  const app = createPlatformApp({ log, controlLog: log, adminApiKey: null, store, metrics: new PlatformMetrics(), logger: silentLogger });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    log,
    store,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      await cleanup();
    },
  };
}
