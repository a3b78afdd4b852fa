/**
 * The product's entry point in a process of its own, as a user starts it: `node --import tsx
 * cli/start.ts` (what `npm start` runs, without the start script's malloc settings), with none
 * of the platform's variables inherited from the test's environment, only the ones given.
 * It listens on an ephemeral 127.0.0.1 port (PORT=0); the URL is read from the line the entry
 * point prints. `start` returns once /api/v1/ready answers 200. Every process started here is
 * SIGKILLed when the test process exits, whatever the reason; `stop` ends it with SIGTERM
 * (SIGKILL after a grace period) and is safe to call twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENVIRONMENT_VARIABLES, REMOVED_VARIABLES } from '../../shared/runtime/environment.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The line cli/start.ts prints once it listens. */
const SERVING_LINE = /is serving at (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/;
/** Lines of output kept for error messages. */
const TAIL_LINES = 30;

export interface PlatformProcess {
  /** `http://127.0.0.1:<port>` */
  base: string;
  pid: number;
  /** The last lines of its stdout and stderr. */
  tail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  stop(graceMs?: number): Promise<string>;
}

/** Every process started here and not yet exited: killed when the test process exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface StartOptions {
  /** A name for error messages, e.g. 'serving A'. */
  name: string;
  /** The platform's variables (environment.ts): ROLES, KAFKA_BROKERS, ... PORT defaults to 0, HOST to 127.0.0.1. */
  env: Readonly<Record<string, string>>;
  /** Deadline for the URL line and /api/v1/ready (ms). @default 60000 */
  readyTimeoutMs?: number;
}

export async function startPlatformProcess(options: StartOptions): Promise<PlatformProcess> {
  const { name } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const variable of [...Object.keys(ENVIRONMENT_VARIABLES), ...Object.keys(REMOVED_VARIABLES)]) delete env[variable];
  Object.assign(env, { PORT: '0', HOST: '127.0.0.1', ...options.env });

  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/start.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let lines: string[] = [];
  let stdout = '';
  const state: { exited: string | null } = { exited: null };
  const exit = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      state.exited = signal === null ? `exit ${code}` : signal;
      resolve(state.exited);
    });
  });
  child.once('error', (err) => lines.push(`spawn error: ${err.message}`));
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
    if (lines.length > TAIL_LINES) lines = lines.slice(-TAIL_LINES);
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString('utf8')).slice(-10_000);
    keep(chunk);
  });
  child.stderr.on('data', keep);

  const tail = (): string => lines.join('\n  ');
  let stopping: Promise<string> | null = null;
  const stop = (graceMs = 5000): Promise<string> => {
    stopping ??= (async () => {
      if (state.exited !== null) return state.exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopping;
  };
  const fail = async (what: string): Promise<never> => {
    await stop(0);
    throw new Error(`${name} (cli/start.ts, pid ${child.pid}): ${what}; last output:\n  ${tail()}`);
  };

  const started = Date.now();
  let base: string | null = null;
  // Bounded by time: the URL line, then /api/v1/ready (it may answer 503 while the process catches up).
  for (let attempt = 0; Date.now() - started < readyTimeoutMs; attempt++) {
    if (state.exited !== null) return fail(`exited (${state.exited}) before /api/v1/ready answered 200`);
    base ??= SERVING_LINE.exec(stdout)?.[1] ?? null;
    if (base !== null) {
      const ready = await fetch(`${base}/api/v1/ready`, { signal: AbortSignal.timeout(2000) }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.status === 200;
        },
        () => false,
      );
      if (ready) {
        const url = base;
        return { base: url, pid: child.pid ?? -1, tail, stop };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, attempt < 20 ? 50 : 250));
  }
  return fail(base === null ? `printed no URL within ${readyTimeoutMs} ms` : `/api/v1/ready did not answer 200 within ${readyTimeoutMs} ms`);
}
