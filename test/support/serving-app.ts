/** A serving app over test backends, listening on 127.0.0.1 at an ephemeral port. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServingApp, type ServingAppDeps } from '../../serving-layer/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { PlatformMetrics } from '../../shared/runtime/metrics.ts';
import type { TestBackends } from './backends.ts';

export interface LocalServer {
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the serving layer over `backends` (its store unless `deps.store` wraps it), silent and with fresh metrics unless given. */
export async function serveBackends(backends: TestBackends, deps: Partial<ServingAppDeps> = {}): Promise<LocalServer> {
  const app = createServingApp({
    log: backends.log,
    controlLog: backends.log,
    adminApiKey: null,
    store: backends.store,
    metrics: new PlatformMetrics(),
    logger: silentLogger,
    ...deps,
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err === undefined ? resolve() : reject(err)))),
  };
}
