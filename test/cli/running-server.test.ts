/**
 * How the CLIs find a running server (the address it records in DATA_DIR) and what they say when
 * it refuses or does not answer. The whole path, with `npm start`, is in first-ten-minutes.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformClient, ServerRequestError, serverHoldingDataDir } from '../../cli/running-server.ts';
import { loadConfig } from '../../shared/runtime/config.ts';
import { readServerAddress, recordServerAddress, runningServer, serverAddressFile, type ServerAddress } from '../../shared/runtime/server-address.ts';

/** A pid that no process has any more: a child that ran and exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('the server address in DATA_DIR', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pv-server-address-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // The test process stands in for the server: runningServer ignores its own pid, so a child's is used.
  const address = (pid: number): ServerAddress => ({ pid, url: 'http://127.0.0.1:3300', startedAt: '2026-12-02T12:00:00.000Z', holds: { embeddedLog: true, duckdb: true } });

  it('is found while its process runs, and ignored once the process is gone (a SIGKILL leaves it behind)', async () => {
    const parent = process.ppid; // alive for the whole test
    await recordServerAddress(dir, address(parent));
    expect(await runningServer(dir)).toEqual(address(parent));
    await recordServerAddress(dir, address(deadPid()));
    expect(await readServerAddress(dir)).not.toBeNull();
    expect(await runningServer(dir)).toBeNull();
  });

  it('is removed by the process that wrote it, not by an older one whose record was replaced', async () => {
    const remove = await recordServerAddress(dir, address(process.ppid));
    await recordServerAddress(dir, address(deadPid()));
    await remove();
    expect(await readServerAddress(dir)).not.toBeNull();
    const own = await recordServerAddress(dir, address(process.ppid));
    await own();
    expect(await readServerAddress(dir)).toBeNull();
  });

  it('a file that is not a record (half written by hand, another format) is no server', async () => {
    await writeFile(serverAddressFile(dir), '{"pid": 1, "url": ');
    expect(await runningServer(dir)).toBeNull();
    await writeFile(serverAddressFile(dir), JSON.stringify({ pid: process.ppid, url: 'not a url', startedAt: '', holds: {} }));
    expect(await runningServer(dir)).toBeNull();
  });

  it('the CLIs go through a server that holds what they need, not one on Kafka + ClickHouse', async () => {
    await recordServerAddress(dir, { ...address(process.ppid), holds: { embeddedLog: false, duckdb: false } });
    expect(await serverHoldingDataDir(loadConfig({ DATA_DIR: dir }), { embeddedLog: true, duckdb: true })).toBeNull();
    await recordServerAddress(dir, address(process.ppid));
    expect((await serverHoldingDataDir(loadConfig({ DATA_DIR: dir }), { duckdb: true }))?.url).toBe('http://127.0.0.1:3300');
    // This CLI's own configuration is Kafka + ClickHouse: it opens them itself.
    const services = loadConfig({ DATA_DIR: dir, KAFKA_BROKERS: '127.0.0.1:9092', CLICKHOUSE_URL: 'http://127.0.0.1:8123' });
    expect(await serverHoldingDataDir(services, { embeddedLog: true, duckdb: true })).toBeNull();
    expect(JSON.parse(await readFile(serverAddressFile(dir), 'utf8'))).toMatchObject({ url: 'http://127.0.0.1:3300' });
  });
});

describe('what the CLIs say when the server refuses or does not answer', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // Answers as the platform does: its error shape, per path.
    server = createServer((req, res) => {
      const answer = (status: number, message: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'PV_X', message } }));
      };
      if (req.url === '/disabled') answer(403, 'admin routes are disabled: start the server with ADMIN_API_KEY set (at least 16 characters)');
      else if (req.url === '/no-token') answer(401, 'this route needs an admin token: Authorization: Bearer <ADMIN_API_KEY>');
      else if (req.url === '/wrong-token') answer(403, 'the admin token is not valid');
      else if (req.url === '/read') answer(401, 'this API needs a read token: Authorization: Bearer <one of READ_API_KEYS>');
      else answer(503, 'the view store is unavailable; retry');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const client = (at: string) => new PlatformClient({ pid: 4242, url: at, startedAt: '', holds: { embeddedLog: true, duckdb: true } }, { admin: 'k'.repeat(16), read: null });
  const refusal = async (at: string, p: string, admin: boolean): Promise<string> => {
    const err = await client(at).request('POST', p, { body: '{}', admin }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerRequestError);
    const message = (err as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  };

  it.each([
    ['/disabled', true, /has its admin routes disabled \(it was started without ADMIN_API_KEY\): stop it and start it again with ADMIN_API_KEY set \(at least 16 characters/],
    ['/no-token', true, /Run this with the server's key in ADMIN_API_KEY/],
    ['/wrong-token', true, /ADMIN_API_KEY here is not the server's/],
    ['/read', false, /one of the server's READ_API_KEYS in READ_API_KEYS/],
    ['/busy', false, /not ready \(see http:\/\/127\.0\.0\.1:\d+\/api\/v1\/ready\); try again in a few seconds/],
  ] as const)('%s: one line naming the server and what to do', async (p, admin, said) => {
    const message = await refusal(url, p, admin);
    expect(message).toContain(`the server at ${url} `);
    expect(message).toMatch(said);
  });

  it('a server that does not answer at its address: wait for it, or stop it by its pid', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const message = await refusal(`http://127.0.0.1:${port}`, '/api/v1/batch/runs', true);
    expect(message).toMatch(/^npm start \(pid 4242\) holds this DATA_DIR but does not answer at http:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\)\. If it is still starting, wait .* stop it \(kill 4242\)/);
  });
});
