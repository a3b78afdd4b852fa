/**
 * A private ClickHouse server for fault tests: its own folder and ports, started and stopped by
 * scripts/infra.sh, so the shared server that other suites use is never touched. Test files that
 * may run at the same time in `npm test` each give their own range of HTTP ports (500 wide; the
 * native port is the HTTP port plus 1000).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export class PrivateClickHouse {
  readonly httpPort: number;
  readonly tcpPort: number;

  private constructor(
    /** Its INFRA_DIR: config, data, logs and pid file under `clickhouse/`. */
    readonly dir: string,
    firstHttpPort: number,
  ) {
    this.httpPort = firstHttpPort + Math.floor(Math.random() * 500);
    this.tcpPort = this.httpPort + 1000;
  }

  /** A new server in a temporary folder, started, on a random HTTP port in [firstHttpPort, firstHttpPort + 500). */
  static async start(firstHttpPort: number): Promise<PrivateClickHouse> {
    const server = new PrivateClickHouse(await fs.mkdtemp(path.join(os.tmpdir(), 'pv-ch-private-')), firstHttpPort);
    server.run('start');
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** Starts or stops it (scripts/infra.sh waits until it answers, or until it has exited). */
  run(action: 'start' | 'stop'): void {
    execFileSync('bash', ['scripts/infra.sh', action, 'clickhouse'], {
      cwd: ROOT,
      env: { ...process.env, INFRA_DIR: this.dir, CLICKHOUSE_HTTP_PORT: String(this.httpPort), CLICKHOUSE_TCP_PORT: String(this.tcpPort) },
      stdio: 'pipe',
      timeout: 120_000,
    });
  }

  /** Stops it if it runs and removes its folder. */
  async remove(): Promise<void> {
    try {
      this.run('stop');
    } catch {
      // already stopped
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
