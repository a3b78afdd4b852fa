/**
 * Where a running `npm start` serves, recorded in its DATA_DIR (`server.json`), so the
 * command-line tools (`npm run batch`, `compare`, `generate`) can reach it over HTTP when it
 * holds what they would open themselves: the embedded log (its lock) and the DuckDB file.
 *
 * The record is written once the server listens (atomically: a reader never sees half of it)
 * and removed when it stops. A record whose process is gone (a SIGKILL) is stale: readers
 * ignore it, and the next server replaces it.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { isProcessAlive } from './processes.ts';

export const SERVER_ADDRESS_FILE = 'server.json';

export interface ServerAddress {
  pid: number;
  /** The base URL it answers at from this machine, e.g. `http://127.0.0.1:3300`. */
  url: string;
  startedAt: string;
  /** What of DATA_DIR it holds: the embedded log, the DuckDB file (neither on Kafka + ClickHouse). */
  holds: { embeddedLog: boolean; duckdb: boolean };
}

const serverAddressSchema = z.object({
  pid: z.number().int().positive(),
  url: z.string().url(),
  startedAt: z.string(),
  holds: z.object({ embeddedLog: z.boolean(), duckdb: z.boolean() }),
});

export const serverAddressFile = (dataDir: string): string => path.join(dataDir, SERVER_ADDRESS_FILE);

/**
 * The URL a client on this machine uses for a server bound to `host`:`port`: a wildcard bind
 * (0.0.0.0, ::) answers on the loopback address.
 */
export function localUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** Writes the record; returns the function that removes it (only if it is still this process's). */
export async function recordServerAddress(dataDir: string, address: ServerAddress): Promise<() => Promise<void>> {
  const file = serverAddressFile(dataDir);
  const temporary = `${file}.${randomUUID()}.tmp`;
  await writeFile(temporary, `${JSON.stringify(address, null, 2)}\n`);
  await rename(temporary, file);
  return async () => {
    const current = await readServerAddress(dataDir);
    if (current?.pid !== address.pid) return;
    await unlink(file).catch(() => undefined);
  };
}

/** The record as written, or null when there is none (or it is not one). */
export async function readServerAddress(dataDir: string): Promise<ServerAddress | null> {
  let text: string;
  try {
    text = await readFile(serverAddressFile(dataDir), 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = serverAddressSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The server recorded in `dataDir` whose process still runs, or null. */
export async function runningServer(dataDir: string): Promise<ServerAddress | null> {
  const address = await readServerAddress(dataDir);
  return address !== null && address.pid !== process.pid && isProcessAlive(address.pid) ? address : null;
}
