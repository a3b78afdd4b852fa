/** A DuckDB file another process holds: PV_STORE_LOCKED with that process's pid, not DuckDB's lock text. */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DuckDbViewStore } from '../../../../shared/adapters/view-store/index.ts';
import { isPlatformError } from '../../../../shared/core/errors.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

describe('DuckDbViewStore.open on a file another process holds', () => {
  it('fails with PV_STORE_LOCKED naming the file and the pid, without the engine text', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pv-duckdb-lock-'));
    const file = path.join(dir, 'views.duckdb');
    // The holder opens the file, says so, and waits to be killed.
    const holder = spawn(
      process.execPath,
      ['--input-type=module', '-e', `const { DuckDBInstance } = await import('@duckdb/node-api'); await DuckDBInstance.create(${JSON.stringify(file)}); console.log('open'); setInterval(() => {}, 1000);`],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (c: Buffer) => (c.toString().includes('open') ? resolve() : undefined));
        holder.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
      });
      const err = await DuckDbViewStore.open({ path: file }).then(
        async (store) => {
          await store.close();
          return null;
        },
        (e: unknown) => e,
      );
      expect(isPlatformError(err, 'PV_STORE_LOCKED'), String(err)).toBe(true);
      const message = (err as Error).message;
      expect(message).toBe(`the DuckDB file ${file} is open in another process (pid ${holder.pid}); one process opens it at a time`);
      expect((err as { details: unknown }).details).toEqual({ path: file, pid: holder.pid });
    } finally {
      holder.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
