/**
 * The product's entry point as a benchmark starts it: `node --import tsx cli/start.ts` (what
 * `npm start` runs) with none of the platform's variables inherited, only the ones given, on
 * 127.0.0.1 and an ephemeral port read from the line the entry point prints. It runs in a
 * process group of its own (detached), so stopping it stops whatever it started, and the group
 * is killed if the harness exits first. Resolves once /api/v1/ready answers 200.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ENVIRONMENT_VARIABLES, REMOVED_VARIABLES } from '../shared/runtime/environment.ts';
import { ROOT, sleep, type Resources } from './harness.ts';

/** The line cli/start.ts prints once it listens. */
const SERVING_LINE = /is serving at (http:\/\/127\.0\.0\.1:\d+)\/api\/v1/;
const STOP_GRACE_MS = 10_000;
const TAIL_LINES = 30;

export interface BenchPlatform {
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** The entry point's pid (the leader of its process group). */
  pid: number;
  /** From spawning to /api/v1/ready answering 200 (ms). */
  readyMs: number;
  /** How it ended, or null while it runs. */
  exited(): string | null;
  /** Its last lines of output. */
  tail(): string;
  /** SIGTERM to its group, SIGKILL after a grace period; resolves with how it ended. Safe to call twice. */
  stop(): Promise<string>;
}

export interface BenchPlatformOptions {
  /** For error messages, e.g. 'npm start (GENERATOR=on)'. */
  name: string;
  /** The platform's variables (DATA_DIR, GENERATOR, …); HOST and PORT are set here. */
  env: Readonly<Record<string, string>>;
  readyTimeoutMs: number;
}

export async function startBenchPlatform(res: Resources, options: BenchPlatformOptions): Promise<BenchPlatform> {
  const vars: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [...Object.keys(ENVIRONMENT_VARIABLES), ...Object.keys(REMOVED_VARIABLES)]) delete vars[name];
  Object.assign(vars, options.env, { HOST: '127.0.0.1', PORT: '0' });
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/start.ts'], { cwd: ROOT, env: vars, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  let lines: string[] = [];
  let stdout = '';
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
    if (lines.length > TAIL_LINES) lines = lines.slice(-TAIL_LINES);
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString('utf8')).slice(-10_000);
    keep(chunk);
  });
  child.stderr!.on('data', keep);
  const state: { exited: string | null } = { exited: null };
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      state.exited = signal === null ? `exit ${code}` : signal;
      resolve(state.exited);
    });
  });
  const group = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  // If the harness dies, the platform must not outlive it.
  const killOnExit = (): void => group('SIGKILL');
  process.on('exit', killOnExit);
  let stopping: Promise<string> | null = null;
  const stop = (): Promise<string> =>
    (stopping ??= (async () => {
      if (state.exited === null) {
        group('SIGTERM');
        const timer = setTimeout(() => group('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      // Anything of the group still alive (a child that outlived the platform).
      group('SIGKILL');
      process.off('exit', killOnExit);
      return state.exited ?? 'stopped';
    })());
  res.onCleanup(async () => void (await stop()));
  const tail = (): string => lines.slice(-12).join('\n  ');
  const fail = async (what: string): Promise<never> => {
    await stop();
    throw new Error(`${options.name}: ${what}; last output:\n  ${tail()}`);
  };
  let base: string | null = null;
  for (;;) {
    if (state.exited !== null) return fail(`exited (${state.exited}) before /api/v1/ready answered 200`);
    if (performance.now() - started > options.readyTimeoutMs) return fail(`/api/v1/ready did not answer 200 within ${options.readyTimeoutMs / 1000} s`);
    base ??= SERVING_LINE.exec(stdout)?.[1] ?? null;
    if (base !== null) {
      const ok = await fetch(`${base}/api/v1/ready`, { signal: AbortSignal.timeout(2000) }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status === 200;
        },
        () => false,
      );
      if (ok) return { base, pid, readyMs: performance.now() - started, exited: () => state.exited, tail, stop };
    }
    await sleep(base === null ? 50 : 250);
  }
}
