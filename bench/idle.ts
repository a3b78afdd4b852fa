/**
 * 7. Idle cost: CPU of `npm start` in embedded mode with the built-in generator at 20 events/s,
 * against the same process with the generator off, measured in the same run.
 *
 * Each measurement starts the platform as a user would (`node --import tsx cli/start.ts`, what
 * `npm start` runs, spawned directly so the measured process is the platform itself) with a
 * fresh temporary DATA_DIR, KAFKA_BROKERS and CLICKHOUSE_URL unset (embedded log + DuckDB), every
 * other platform variable at its default except PORT (0: an ephemeral port on 127.0.0.1), GENERATOR,
 * GENERATOR_RATE and GENERATOR_HISTORY_DAYS (0: no first-run history, whose back-fill and batch
 * run are not the generator's steady cost), through bench/platform-process.ts. It waits until GET /api/v1/ready answers 200, lets the platform warm up, then
 * reads the CPU time (utime + stime of the process and any child processes, from /proc) at the
 * start and the end of a window: CPU % of one core = CPU time / wall time. The process group is
 * stopped with SIGTERM (SIGKILL after 10 s). Generator-on and generator-off runs alternate.
 *
 * Target (issue #13): ≤ 3% of a core with the generator on.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { figure, MiB, type BenchResult } from './figures.ts';
import { sleep, type BenchEnv, type Resources } from './harness.ts';
import { startBenchPlatform } from './platform-process.ts';
import type { Sizes } from './sizes.ts';
import { median } from './stats.ts';

const execFileAsync = promisify(execFile);

/** Issue #13: CPU of `npm start` with the generator at 20 events/s, in % of one core. */
export const IDLE_CPU_TARGET_PERCENT = 3;
const READY_TIMEOUT_MS = 120_000;

interface IdleRun {
  generator: boolean;
  /** Spawn → /api/v1/ready answered 200. */
  readyMs: number;
  windowMs: number;
  cpuMs: number;
  cpuPercent: number;
  /** RSS of the process tree at the end of the window. */
  rss: number;
  processes: number;
  /** Command names of the process tree at the end of the window. */
  commands: string[];
  /** Speed-layer records consumed during the window (pv_speed_events_total), per second. */
  speedEventsPerSec: number;
  exit: string;
}

/** A `getconf` value (CLK_TCK: clock ticks per second, the unit of utime/stime; PAGESIZE: the unit of rss). */
async function getconf(name: string, fallback: number): Promise<number> {
  try {
    const { stdout } = await execFileAsync('getconf', [name]);
    const n = Number(stdout.trim());
    return Number.isFinite(n) && n > 0 ? n : fallback;
  } catch {
    return fallback;
  }
}

interface ProcStat {
  pid: number;
  ppid: number;
  /** The command name (/proc/<pid>/stat field 2). */
  comm: string;
  /** utime + stime + cutime + cstime (own threads and reaped children), in clock ticks. */
  ticks: number;
  rssPages: number;
}

async function procStat(pid: number): Promise<ProcStat | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3]);
  return { pid, ppid: field(4), comm: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), ticks: field(14) + field(15) + field(16) + field(17), rssPages: field(24) };
}

/** The process and its live descendants. */
async function processTree(root: number): Promise<ProcStat[]> {
  const all: ProcStat[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await procStat(Number(entry));
    if (stat !== null) all.push(stat);
  }
  const tree: ProcStat[] = [];
  const wanted = new Set([root]);
  // Parents before children is not guaranteed by pid order: repeat until nothing is added.
  for (let added = true; added; ) {
    added = false;
    for (const p of all) {
      if (!tree.includes(p) && (p.pid === root || wanted.has(p.ppid))) {
        tree.push(p);
        wanted.add(p.pid);
        added = true;
      }
    }
  }
  return tree;
}

/** Sum of pv_speed_events_total over its outcomes, from /metrics (NaN when unreadable). */
async function speedEventsTotal(base: string): Promise<number> {
  try {
    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    let sum = 0;
    for (const line of text.split('\n')) if (line.startsWith('pv_speed_events_total{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  } catch {
    return Number.NaN;
  }
}

async function idleRun(res: Resources, sizes: Sizes, generator: boolean, units: { ticksPerSec: number; pageSize: number }): Promise<IdleRun> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pv-bench-idle-'));
  const removeDir = (): Promise<void> => rm(dataDir, { recursive: true, force: true });
  res.onCleanup(removeDir);
  // A user's defaults but the first run's history: the figure is the generator's steady cost.
  const platform = await startBenchPlatform(res, {
    name: `npm start (GENERATOR=${generator ? 'on' : 'off'})`,
    env: { DATA_DIR: dataDir, GENERATOR: generator ? 'on' : 'off', GENERATOR_RATE: String(sizes.idleRate), GENERATOR_HISTORY_DAYS: '0' },
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  const { base, pid, readyMs, stop } = platform;
  const fail = (what: string): Error => new Error(`npm start (GENERATOR=${generator ? 'on' : 'off'}): ${what}; last output:\n  ${platform.tail()}`);
  try {
    await sleep(sizes.idleWarmupS * 1000);
    const eventsBefore = await speedEventsTotal(base);
    const tree0 = await processTree(pid);
    const t0 = performance.now();
    await sleep(sizes.idleSampleS * 1000);
    const tree1 = await processTree(pid);
    const t1 = performance.now();
    const eventsAfter = await speedEventsTotal(base);
    const ended = platform.exited();
    if (ended !== null) throw fail(`exited (${ended}) during the measurement`);
    // Processes in both samples count their difference; one born in the window counts all of its time.
    const before = new Map(tree0.map((p) => [p.pid, p.ticks]));
    const ticks = tree1.reduce((sum, p) => sum + p.ticks - (before.get(p.pid) ?? 0), 0);
    const windowMs = t1 - t0;
    const cpuMs = (1000 * ticks) / units.ticksPerSec;
    const run: IdleRun = {
      generator,
      readyMs,
      windowMs,
      cpuMs,
      cpuPercent: (100 * cpuMs) / windowMs,
      rss: tree1.reduce((sum, p) => sum + p.rssPages * units.pageSize, 0),
      processes: tree1.length,
      commands: tree1.map((p) => p.comm),
      speedEventsPerSec: (eventsAfter - eventsBefore) / (windowMs / 1000),
      exit: '',
    };
    run.exit = await stop();
    return run;
  } finally {
    await stop();
    await removeDir();
  }
}

export async function benchIdle(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const units = { ticksPerSec: await getconf('CLK_TCK', 100), pageSize: await getconf('PAGESIZE', 4096) };
  const on: IdleRun[] = [];
  const off: IdleRun[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    for (const generator of [true, false]) {
      const run = await idleRun(res, sizes, generator, units);
      (generator ? on : off).push(run);
      env.say(
        `  rep ${rep + 1}, generator ${generator ? 'on ' : 'off'}: ${run.cpuPercent.toFixed(2)}% of a core over ${(run.windowMs / 1000).toFixed(1)} s ` +
          `(${(run.cpuMs / 1000).toFixed(2)} s CPU, ${run.processes} process${run.processes === 1 ? '' : 'es'}), RSS ${(run.rss / MiB).toFixed(0)} MiB, ` +
          `speed layer ${run.speedEventsPerSec.toFixed(1)} events/s; ready after ${(run.readyMs / 1000).toFixed(1)} s; stopped: ${run.exit}`,
      );
    }
  }
  const rate = sizes.idleRate;
  const cpu = figure(`CPU of npm start, generator on at ${rate} events/s`, '% of a core', 'lower', on.map((r) => r.cpuPercent), {
    name: 'same with GENERATOR=off',
    values: off.map((r) => r.cpuPercent),
    meaning: 'generator on / off',
  });
  // The generator must have run at its rate, or the figure says nothing about the cost of 20 events/s.
  const counted = median(on.map((r) => r.speedEventsPerSec));
  const rateOk = counted >= 0.9 * rate;
  const full = sizes.idleSampleS >= 30;
  cpu.target = {
    text: `CPU of npm start ≤ ${IDLE_CPU_TARGET_PERCENT}% of a core at ${rate} events/s, generator on`,
    before: '18% of a core',
    met: rateOk && full ? cpu.value.max <= IDLE_CPU_TARGET_PERCENT : null,
    why:
      `${cpu.value.median.toFixed(2)}% of a core (median; ${cpu.value.max.toFixed(2)}% at most) over ${sizes.idleSampleS} s windows; ` +
      `${median(off.map((r) => r.cpuPercent)).toFixed(2)}% with the generator off; speed layer consumed ${counted.toFixed(1)} events/s` +
      (rateOk ? '' : ` (below 90% of the generator's ${rate}: not decided)`) +
      (full ? '' : ` (${sizes.idleSampleS} s windows, shorter than the full run's 30 s: not decided)`),
  };
  const rss = figure(`RSS of npm start at the end, generator on at ${rate} events/s`, 'MiB', 'lower', on.map((r) => r.rss / MiB), {
    name: 'same with GENERATOR=off',
    values: off.map((r) => r.rss / MiB),
    meaning: 'generator on / off',
  });
  return {
    id: 'idle',
    title: 'Idle cost of npm start (embedded mode)',
    figures: [cpu, rss],
    details: { rate, warmupS: sizes.idleWarmupS, sampleS: sizes.idleSampleS, clockTicksPerSec: units.ticksPerSec, pageSize: units.pageSize, on, off },
    notes: [
      `\`node --import tsx cli/start.ts\` (what \`npm start\` runs) in embedded mode, a fresh DATA_DIR per run, all roles, defaults otherwise; ` +
        `GENERATOR=on with GENERATOR_RATE=${rate}, and the reference with GENERATOR=off; runs alternate, one process at a time.`,
      `After /api/v1/ready answers 200: ${sizes.idleWarmupS} s warm-up, then CPU time (utime + stime of the process tree, /proc/<pid>/stat) over ${sizes.idleSampleS} s, as % of one core. ` +
        'The rate the speed layer consumed in the window (pv_speed_events_total, read just outside it) confirms the generator ran.',
      'The batch scheduler runs at its default cron (02:00 UTC); a run that spans that moment includes a batch recompute.',
    ],
  };
}
