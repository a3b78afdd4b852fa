/**
 * Speed-layer worker processes (test/support/speed-worker.ts) for fault tests: each consumes a
 * topic as one consumer group into one ClickHouse database, in a process of its own, so that a
 * test can SIGKILL it mid-stream and start another in its place. `start` resolves once the
 * worker prints "ready" (it is consuming); `kill` SIGKILLs one and resolves once it has exited.
 * Every worker still running is SIGKILLed by `killAll` (the test's afterAll) and when the test
 * process exits, whatever the reason.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Deadline for a worker's "ready" line (ms). */
const READY_TIMEOUT_MS = 30_000;

/** Every worker started here and not yet exited: killed when the test process exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface SpeedWorkerTarget {
  kafkaBrokers: readonly string[];
  topic: string;
  clickhouseUrl: string;
  database: string;
  /** The consumer group every worker of this set joins. */
  group: string;
  /** More of speed-worker.ts's variables, e.g. FLUSH_MS. */
  env?: Readonly<Record<string, string>>;
}

export class SpeedWorkers {
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly target: SpeedWorkerTarget) {}

  /** A new worker, once it consumes; `env` adds to (or overrides) the set's variables for this one. */
  start(env: Readonly<Record<string, string>> = {}): Promise<ChildProcess> {
    const t = this.target;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/speed-worker.ts'], {
        cwd: ROOT,
        env: {
          ...process.env,
          KAFKA_BROKERS: t.kafkaBrokers.join(','),
          KAFKA_TOPIC: t.topic,
          CLICKHOUSE_URL: t.clickhouseUrl,
          CLICKHOUSE_DATABASE: t.database,
          SPEED_GROUP: t.group,
          ...t.env,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      this.children.add(child);
      running.add(child);
      child.once('exit', () => {
        this.children.delete(child);
        running.delete(child);
      });
      const timer = setTimeout(() => reject(new Error(`speed worker did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) {
          clearTimeout(timer);
          resolve(child);
        }
      });
      child.once('error', reject);
    });
  }

  /** Resolves once `child` has exited (a worker that kills itself), or rejects after `timeoutMs`. */
  exited(child: ChildProcess, timeoutMs = 60_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`speed worker ${child.pid} still running after ${timeoutMs / 1000} s`)), timeoutMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** SIGKILLs `child`; resolves once it has exited. Throws if it had exited already (the kill would land nowhere). */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`speed worker ${child.pid} exited (${child.exitCode ?? child.signalCode}) before it was killed`);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (!child.kill('SIGKILL')) throw new Error(`could not SIGKILL speed worker ${child.pid}`);
    await exited;
  }

  /** SIGKILLs every worker of this set still running. */
  killAll(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }
}
