/**
 * A new user's first ten minutes, scripted: `npm start` on the embedded default (on a port that
 * is not the default, with an admin key), then from a second shell the README's commands —
 * `npm run generate`, `npm run batch -- --now`, `npm run compare` — and every curl example of
 * README.md, pointed at that port. Every command exits 0, or says in one line what to do; the
 * whole transcript shows no engine error (ClickHouse's `DB::Exception`, DuckDB's lock text) and
 * no stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES } from '../../shared/runtime/environment.ts';
import { startPlatformProcess, type PlatformProcess } from '../support/platform-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADMIN_API_KEY = 'first-ten-minutes-admin-key';
/** What no user should read: an engine's own error, DuckDB's lock text, a stack frame. */
const RAW_ENGINE_TEXT = [/DB::Exception/, /Could not set lock/i, /Conflicting lock/i, /IO Error:/, /^\s+at .+:\d+:\d+\)?$/m, /\bat (?:async )?[\w.<>]+ \(/];

/** A free port that is not the default (3000). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    if (port !== 3000 && port !== 0) return port;
  }
}

interface Step {
  command: string;
  code: number | null;
  output: string;
}

/** Runs a shell command as the user would type it, with a deadline; stdout and stderr interleaved. */
function shell(command: string, env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<Step> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ command, code, output });
    });
  });
}

/** What a failed command said, without npm's own lines about the script that failed. */
const ownLines = (output: string): string[] => output.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('npm error') && !/^> /.test(l));

/** README's curl commands (with their continuation lines), in order. */
async function readmeCurls(): Promise<string[]> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const commands: string[] = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.startsWith('curl ')) continue;
      let command = lines[i]!;
      while (command.trimEnd().endsWith('\\') && i + 1 < lines.length) command = `${command.trimEnd().slice(0, -1)} ${lines[++i]!.trim()}`;
      commands.push(command.replace(/\s+#.*$/, ''));
    }
  }
  return commands;
}

describe('a new user\'s first ten minutes, on the embedded default and a port that is not the default', () => {
  let server: PlatformProcess;
  let dataDir: string;
  let port: number;
  let env: NodeJS.ProcessEnv;
  const transcript: Step[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'pv-first-minutes-'));
    port = await freePort();
    server = await startPlatformProcess({ name: 'npm start', env: { DATA_DIR: dataDir, PORT: String(port), ADMIN_API_KEY }, readyTimeoutMs: 120_000 });
    // The second shell: the same DATA_DIR and key, none of the platform's other variables.
    env = { ...process.env };
    for (const variable of Object.keys(ENVIRONMENT_VARIABLES)) delete env[variable];
    Object.assign(env, { DATA_DIR: dataDir, ADMIN_API_KEY });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  const run = async (command: string, extraEnv: Record<string, string> = {}, timeoutMs?: number): Promise<Step> => {
    const step = await shell(command, { ...env, ...extraEnv }, timeoutMs);
    transcript.push(step);
    return step;
  };

  it('npm start serves where it says, and records that address beside its lock', async () => {
    expect(server.base).toBe(`http://127.0.0.1:${port}`);
    const recorded = JSON.parse(await readFile(path.join(dataDir, 'server.json'), 'utf8')) as { url: string; pid: number; holds: unknown };
    expect(recorded).toMatchObject({ url: server.base, pid: server.pid, holds: { embeddedLog: true, duckdb: true } });
  });

  it('npm run generate sends its events through the running server', async () => {
    const before = await pageviewsToday(server.base);
    const step = await run('npm run generate -- --rate 200 --duration 1s --seed 11 --site first-minutes');
    expect(step.code, step.output).toBe(0);
    expect(step.output).toContain(`at ${server.base}`);
    const sent = Number(/done: (\d+) events/.exec(step.output)?.[1]);
    // How many depends on the machine's load (the generator's pace is generate.test.ts's): every one is counted.
    expect(sent).toBeGreaterThan(0);
    // Counted by the server's speed layer (the site is the generator's own, so only these).
    await expect.poll(() => pageviewsToday(server.base, 'first-minutes'), { timeout: 20_000, interval: 200 }).toBe(sent);
    expect(await pageviewsToday(server.base)).toBeGreaterThanOrEqual(before);
  });

  it('npm run batch -- --now asks the server for a run, follows it and prints its record', async () => {
    const hourOf = (ms: number): string => new Date(Math.floor(ms / 3_600_000) * 3_600_000).toISOString();
    const before = hourOf(Date.now());
    const step = await run('npm run batch -- --now');
    expect(step.code, step.output).toBe(0);
    expect(step.output).toContain(`asking npm start (pid ${server.pid}, ${server.base})`);
    // The start of the hour the command ran in (either side of an hour's turn while it ran).
    const hour = /exact through (\S+) \(/.exec(step.output)?.[1];
    expect([before, hourOf(Date.now())]).toContain(hour);
    const record = JSON.parse(step.output.slice(step.output.indexOf('{'), step.output.lastIndexOf('}') + 1)) as { status: string; cutoffTime: string; batchId: string; divergence?: unknown };
    expect(record).toMatchObject({ status: 'success', cutoffTime: hour });
    // The day before the cutoff is history the speed layer never held: no divergence, rather than "within" over nothing.
    expect(record.divergence ?? null).toBeNull();
    const runs = (await (await fetch(`${server.base}/api/v1/batch/runs?limit=1`)).json()) as { runs: { batchId: string }[] };
    expect(runs.runs[0]!.batchId).toBe(record.batchId);
  });

  it('npm run compare answers through the server, over the last 7 days by default', async () => {
    const step = await run('npm run compare');
    expect(step.code, step.output).toBe(0);
    expect(step.output).toMatch(/^speed vs batch, site default, hour buckets, |^nothing to compare: /m);
    const json = await run('npm run compare -- --json --interval day');
    expect(json.code, json.output).toBe(0);
    const answer = JSON.parse(json.output.slice(json.output.indexOf('{'), json.output.lastIndexOf('}') + 1)) as { exactThrough: string | null; interval: string };
    expect(answer).toMatchObject({ interval: 'day' });
    expect(answer.exactThrough).not.toBeNull();
  });

  it('a refusal is one line that says what to do: a batch run without the admin key, a bad flag', async () => {
    const noKey = await run('npm run batch -- --now', { ADMIN_API_KEY: '' });
    expect(noKey.code).not.toBe(0);
    const said = ownLines(noKey.output).filter((l) => l.startsWith('error:'));
    expect(said, noKey.output).toHaveLength(1);
    expect(said[0]).toContain('ADMIN_API_KEY');
    const badFlag = await run('npm run compare -- --interval week');
    expect(badFlag.code).not.toBe(0);
    expect(ownLines(badFlag.output)[0]).toMatch(/^error: .*--interval/);
  });

  it("README's curl examples answer with success at the server's address", async () => {
    const curls = await readmeCurls();
    expect(curls.length).toBeGreaterThanOrEqual(15);
    for (const curl of curls) {
      const pointed = curl.replaceAll('http://127.0.0.1:3000', server.base);
      // The stream stays open: read it for 3 s and expect its first message.
      const streaming = / -N /.test(pointed);
      const command = `${pointed} --silent --show-error --max-time ${streaming ? 3 : 30} --write-out '\\nHTTP %{http_code}\\n'`;
      const step = await run(command);
      const status = Number(/HTTP (\d{3})\s*$/.exec(step.output)?.[1]);
      if (streaming) {
        expect(step.output, command).toContain('event: realtime');
        expect(status, command).toBe(200);
      } else {
        expect(step.code, `${command}\n${step.output}`).toBe(0);
        expect(status, `${command}\n${step.output}`).toBeLessThan(300);
      }
    }
  }, 120_000);

  it('shows no engine error and no stack trace anywhere in the transcript, and no engine error in the server\'s output', () => {
    expect(transcript.length).toBeGreaterThanOrEqual(20);
    const text = transcript.map((s) => `$ ${s.command}\n${s.output}`).join('\n');
    for (const pattern of RAW_ENGINE_TEXT) expect(text, String(pattern)).not.toMatch(pattern);
    // The server's log is for operators: a warning carries its error's stack there, by design.
    const serverOutput = server.tail();
    for (const pattern of RAW_ENGINE_TEXT.slice(0, 4)) expect(serverOutput, String(pattern)).not.toMatch(pattern);
  });
});

async function pageviewsToday(base: string, site = 'default'): Promise<number> {
  const res = await fetch(`${base}/api/v1/stats/aggregate?site_id=${site}&period=day&metrics=pageviews`);
  const body = (await res.json()) as { results: { pageviews: { value: number } } };
  return body.results.pageviews.value;
}
