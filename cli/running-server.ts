/**
 * The command-line tools beside a running `npm start`: on the embedded default the server holds
 * DATA_DIR (the embedded log's lock, the DuckDB file), so `npm run batch`, `compare` and
 * `generate` reach it over HTTP at the address it recorded there (shared/runtime/server-address.ts),
 * with the keys of the environment (ADMIN_API_KEY for batch runs, the first of READ_API_KEYS for
 * reads). Every failure is one sentence that says what to do.
 */
import { isPlatformError } from '../shared/core/errors.ts';
import type { PlatformConfig } from '../shared/runtime/config.ts';
import { runningServer, serverAddressFile, type ServerAddress } from '../shared/runtime/server-address.ts';

/** How long one request to the server may take (ms). */
const REQUEST_TIMEOUT_MS = 30_000;

/** An answer of the server that is not a success, as one sentence with what to do. */
export class ServerRequestError extends Error {
  override readonly name = 'ServerRequestError';
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/** The API of a running server, as the CLIs use it. */
export class PlatformClient {
  constructor(
    readonly server: ServerAddress,
    private readonly keys: { admin: string | null; read: string | null },
  ) {}

  get url(): string {
    return this.server.url;
  }

  /** A JSON request; resolves with the parsed body of a 2xx answer, else throws a ServerRequestError. */
  async request<T>(method: 'GET' | 'POST', path: string, options: { body?: string; contentType?: string; admin?: boolean } = {}): Promise<T> {
    const key = options.admin === true ? this.keys.admin : this.keys.read;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    if (key !== null) headers['authorization'] = `Bearer ${key}`;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: options.body }), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (err) {
      throw new ServerRequestError(unreachable(this.server, err), null);
    }
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      // Not JSON: the status says enough.
    }
    if (res.ok) return body as T;
    throw new ServerRequestError(refusal(this.server, method, path, res.status, body, options.admin === true), res.status);
  }
}

function unreachable(server: ServerAddress, err: unknown): string {
  const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
  return (
    `npm start (pid ${server.pid}) holds this DATA_DIR but does not answer at ${server.url} (${cause}). ` +
    `If it is still starting, wait for its "is serving" line and run this again; if it hangs, stop it (kill ${server.pid}) and run this again.`
  );
}

function apiMessage(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const error = (body as { error?: unknown }).error;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
  return null;
}

function refusal(server: ServerAddress, method: string, path: string, status: number, body: unknown, admin: boolean): string {
  const said = apiMessage(body) ?? `HTTP ${status}`;
  const at = `the server at ${server.url} refused ${method} ${path.split('?')[0]}: ${said}`;
  if (admin && status === 403 && said.startsWith('admin routes are disabled')) {
    return (
      `the server at ${server.url} has its admin routes disabled (it was started without ADMIN_API_KEY): stop it and start it again with ADMIN_API_KEY set ` +
      '(at least 16 characters, e.g. ADMIN_API_KEY=$(openssl rand -hex 24) npm start), then run this with the same ADMIN_API_KEY.'
    );
  }
  if (admin && status === 401) return `${at}. Run this with the server's key in ADMIN_API_KEY.`;
  if (admin && status === 403) return `${at}. ADMIN_API_KEY here is not the server's: run this with the key npm start was given.`;
  if (status === 401 || status === 403) return `${at}. Run this with one of the server's READ_API_KEYS in READ_API_KEYS.`;
  if (status === 503) return `${at}. The server is not ready (see ${server.url}/api/v1/ready); try again in a few seconds.`;
  return `${at}.`;
}

/**
 * The server that holds what a CLI would open in DATA_DIR (the embedded log, the DuckDB file):
 * its client, or null when none runs (or it runs on Kafka + ClickHouse and holds neither).
 */
export async function serverHoldingDataDir(config: PlatformConfig, needs: { embeddedLog?: boolean; duckdb?: boolean }): Promise<PlatformClient | null> {
  const server = await runningServer(config.dataDir);
  if (server === null) return null;
  const held = (needs.embeddedLog === true && config.kafkaBrokers === null && server.holds.embeddedLog) || (needs.duckdb === true && config.clickhouseUrl === null && server.holds.duckdb);
  return held ? new PlatformClient(server, { admin: config.adminApiKey, read: config.readApiKeys[0] ?? null }) : null;
}

/**
 * Opens what a CLI needs in DATA_DIR (`open`); a failure because another process holds it, when
 * no server is recorded there (a server without the serving role, another CLI), becomes one
 * sentence, without the engine's text.
 */
export async function openingDataDir<T>(config: PlatformConfig, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    const held = heldDataDirMessage(err, config);
    throw held === null ? err : new Error(held);
  }
}

function heldDataDirMessage(err: unknown, config: PlatformConfig): string | null {
  if (isPlatformError(err, 'PV_LOG_UNAVAILABLE') && config.kafkaBrokers === null) {
    const pid = (err.details as { pid?: unknown } | undefined)?.pid;
    return (
      `the embedded log in ${config.dataDir} is held by another process${typeof pid === 'number' ? ` (pid ${pid})` : ''} that serves no API here ` +
      `(no ${serverAddressFile(config.dataDir)}): let it finish, or stop it, and run this again; or give this another DATA_DIR.`
    );
  }
  if (isPlatformError(err, 'PV_STORE_LOCKED')) {
    return (
      `the DuckDB file in ${config.dataDir} is open in another process that serves no API here ` +
      `(no ${serverAddressFile(config.dataDir)}): let it finish, or stop it, and run this again; or give this another DATA_DIR.`
    );
  }
  return null;
}
