/**
 * What every benchmark shares: its own Kafka topics, consumer groups and ClickHouse databases
 * (named `bench-<uuid>` / `bench_<id>`, removed afterwards, also on failure), worker processes
 * (bench/worker.ts, one role each), kcat as the reference reader and fast topic filler, and the
 * machine facts recorded with the results.
 */
import { ClickHouseViewStore } from '../shared/adapters/view-store/index.ts';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { KafkaEventLog } from '../shared/adapters/event-log/index.ts';
import { encodePageView, pageViewKey, VISIT_FIELDS, type PageView } from '../shared/core/page-view.ts';

const { Kafka, logLevel } = kafkajs;
const execFileAsync = promisify(execFile);

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/**
 * The environment `npm start` gives the platform's process (the `VAR=value` words that lead its
 * script in package.json): workers get it too, so they measure what a user runs.
 */
export async function startScriptEnv(): Promise<Record<string, string>> {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const vars: Record<string, string> = {};
  for (const word of pkg.scripts['start']?.split(/\s+/) ?? []) {
    const match = /^([A-Z_][A-Z0-9_]*)=(\S*)$/.exec(word);
    if (match === null) break;
    vars[match[1]!] = match[2]!;
  }
  return vars;
}

export interface BenchEnv {
  brokers: string[];
  clickhouseUrl: string;
  /** Smoke run: small sizes, one repetition. */
  quick: boolean;
  /** Repetitions of every figure (after a warm-up). */
  reps: number;
  /** Where workers write CPU profiles (--profile), or null. */
  profileDir: string | null;
  /** --visit-fields: the batch benchmark's events carry visit fields (schema v2). @default false */
  visitFields?: boolean;
  /** Progress lines go here. */
  say(message: string): void;
}

/** `bench_<32 hex>`: a ClickHouse identifier without quoting trouble. */
export function newId(): string {
  return randomUUID().replace(/-/g, '');
}

// ---------------------------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------------------------

export interface WorkerMessage {
  type: string;
  [field: string]: unknown;
}

const MESSAGE_PREFIX = '@@bench ';

let workerCount = 0;

/** Every worker still running: killed when this process exits, whatever the reason. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A bench/worker.ts process. It reports JSON messages on stdout; SIGTERM stops it cleanly. */
export class Worker {
  private readonly messages: WorkerMessage[] = [];
  private readonly waiters: { types: string[]; resolve: (m: WorkerMessage) => void; reject: (e: Error) => void }[] = [];
  private stderrTail: string[] = [];
  private exitCode: number | null = null;
  private exited: Promise<void>;

  constructor(
    readonly role: string,
    private readonly child: ChildProcess,
  ) {
    let buffer = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith(MESSAGE_PREFIX)) this.receive(JSON.parse(line.slice(MESSAGE_PREFIX.length)) as WorkerMessage);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail.push(...chunk.split('\n').filter((l) => l.length > 0));
      if (this.stderrTail.length > 40) this.stderrTail = this.stderrTail.slice(-40);
    });
    running.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(child);
        this.exitCode = code ?? (signal === null ? 0 : 128);
        const error = new Error(`worker ${role} (pid ${child.pid}) exited with ${code ?? signal}${this.stderrSummary()}`);
        for (const w of this.waiters.splice(0)) w.reject(error);
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private stderrSummary(): string {
    return this.stderrTail.length === 0 ? '' : `; last stderr lines:\n  ${this.stderrTail.slice(-15).join('\n  ')}`;
  }

  private receive(message: WorkerMessage): void {
    if (message.type === 'error') {
      const error = new Error(`worker ${this.role}: ${String(message['message'])}${this.stderrSummary()}`);
      for (const w of this.waiters.splice(0)) w.reject(error);
      this.messages.push(message);
      return;
    }
    const i = this.waiters.findIndex((w) => w.types.includes(message.type));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(message);
    else this.messages.push(message);
  }

  /** The next message of `type` (rejects when the worker fails, exits or the time is up). */
  next(type: string, timeoutMs: number): Promise<WorkerMessage> {
    return this.nextOf([type], timeoutMs);
  }

  /** The next message of any of `types`. */
  nextOf(types: string[], timeoutMs: number): Promise<WorkerMessage> {
    const type = types.join("' or '");
    const failed = this.messages.find((m) => m.type === 'error');
    if (failed !== undefined) return Promise.reject(new Error(`worker ${this.role}: ${String(failed['message'])}${this.stderrSummary()}`));
    const i = this.messages.findIndex((m) => types.includes(m.type));
    if (i >= 0) return Promise.resolve(this.messages.splice(i, 1)[0]!);
    if (this.exitCode !== null) return Promise.reject(new Error(`worker ${this.role} already exited (${this.exitCode})${this.stderrSummary()}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const j = this.waiters.indexOf(waiter);
        if (j >= 0) this.waiters.splice(j, 1);
        reject(new Error(`worker ${this.role}: no '${type}' message within ${timeoutMs} ms${this.stderrSummary()}`));
      }, timeoutMs);
      const waiter = {
        types,
        resolve: (m: WorkerMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** The messages of `type` already received (and not taken by next), without waiting. */
  received(type: string): WorkerMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  /** Sends a signal (e.g. SIGUSR2: a serving worker reports its store trace). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Asks the worker to stop (SIGTERM), killing it after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Waits for the worker to exit by itself (bounded), then reports whether it exited with 0. */
  async waitExit(timeoutMs: number): Promise<number> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return this.exitCode ?? 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Resources: everything a benchmark creates, removed by cleanup()
// ---------------------------------------------------------------------------------------------

export class Resources {
  private readonly topics = new Set<string>();
  private readonly groups = new Set<string>();
  private readonly databases = new Set<string>();
  private readonly workers = new Set<Worker>();
  private readonly cleanups: (() => Promise<void>)[] = [];

  constructor(private readonly env: BenchEnv) {}

  /** A new topic name; the topic (and its dead-letter topic) is deleted on cleanup. */
  topic(): string {
    const name = `bench-${randomUUID()}`;
    this.topics.add(name);
    return name;
  }

  /** A new consumer group id; its committed offsets are deleted on cleanup. */
  group(): string {
    const name = `bench-${randomUUID()}`;
    this.groups.add(name);
    return name;
  }

  /** A new ClickHouse database name; dropped on cleanup. */
  database(): string {
    const name = `bench_${newId()}`;
    this.databases.add(name);
    return name;
  }

  /** Registers any other clean-up step (closing a client, a server, a folder). */
  onCleanup(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  /** Starts bench/worker.ts with `role`; configuration goes in BENCH_* environment variables. */
  async worker(role: string, env: Record<string, string | number>, nodeArgs: string[] = []): Promise<Worker> {
    const vars: NodeJS.ProcessEnv = { ...(await startScriptEnv()), ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' };
    for (const [k, v] of Object.entries(env)) vars[k] = String(v);
    // With --profile: one folder per worker, named after its role.
    const profile = this.env.profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.join(this.env.profileDir, `${role}-${++workerCount}`)}`];
    const child = spawn(process.execPath, ['--import', 'tsx', ...profile, ...nodeArgs, WORKER, role], {
      cwd: ROOT,
      env: vars,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const worker = new Worker(role, child);
    this.workers.add(worker);
    return worker;
  }

  /** Drops a database now (frees disk between repetitions). */
  async dropDatabase(name: string): Promise<void> {
    await clickhouse(this.env.clickhouseUrl, `DROP DATABASE IF EXISTS \`${name}\``);
    this.databases.delete(name);
  }

  /** Stops workers, deletes topics and groups, drops databases. Never throws; reports what failed. */
  async cleanup(): Promise<void> {
    const problems: string[] = [];
    await Promise.all([...this.workers].map((w) => w.stop(10_000).catch((e: unknown) => problems.push(String(e)))));
    this.workers.clear();
    for (const fn of this.cleanups.splice(0).reverse()) await fn().catch((e: unknown) => problems.push(String(e)));
    if (this.topics.size > 0 || this.groups.size > 0) {
      const admin = new Kafka({ brokers: this.env.brokers, clientId: 'pv-bench-cleanup', logLevel: logLevel.NOTHING }).admin();
      try {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        // With the topics the platform derives from a topic's name.
        const topics = [...this.topics].flatMap((t) => [t, `${t}.dead-letter`, `${t}.batch-control`]).filter((t) => existing.has(t));
        if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
        const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => this.groups.has(g));
        if (groups.length > 0) {
          // A group whose last member has just left may still be settling: one retry.
          await admin
            .deleteGroups(groups)
            .catch(async () => {
              await sleep(2000);
              const left = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => this.groups.has(g));
              if (left.length > 0) await admin.deleteGroups(left);
            })
            .catch((e: unknown) => {
            const failed = (e as { groups?: { groupId: string; error?: { type?: string } }[] }).groups ?? [];
            problems.push(`delete groups: ${failed.map((g) => `${g.groupId}: ${g.error?.type ?? '?'}`).join(', ') || String(e)}`);
          });
        }
        this.topics.clear();
        this.groups.clear();
      } catch (err) {
        problems.push(`kafka cleanup: ${String(err)}`);
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }
    for (const db of [...this.databases]) {
      await this.dropDatabase(db).catch((e: unknown) => problems.push(`drop ${db}: ${String(e)}`));
    }
    if (problems.length > 0) this.env.say(`  cleanup problems: ${problems.join('; ')}`);
  }
}

/** Runs one ClickHouse statement over HTTP and returns the response text. */
export async function clickhouse(url: string, query: string): Promise<string> {
  const res = await fetch(url, { method: 'POST', body: query, signal: AbortSignal.timeout(120_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse: ${text.trim()}`);
  return text;
}

// ---------------------------------------------------------------------------------------------
// kcat: the reference reader and the fast filler
// ---------------------------------------------------------------------------------------------

async function run(command: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: [stdin, 'ignore', 'pipe'] });
  await once(child, 'spawn');
  return child;
}

async function finished(child: ChildProcess, what: string, timeoutMs: number): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => {
    stderr = (stderr + c).slice(-2000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${what} exited with ${code ?? signal}: ${stderr.trim()}`);
}

/**
 * Reads the whole topic with kcat to /dev/null, as the issue states it:
 * `kcat -C -b … -t topic -e -q -o beginning > /dev/null`. Returns the wall time in ms.
 */
export async function kcatRead(brokers: string[], topic: string, timeoutMs = 600_000): Promise<number> {
  const started = performance.now();
  const child = await run('kcat', ['-C', '-b', brokers.join(','), '-t', topic, '-e', '-q', '-o', 'beginning']);
  await finished(child, 'kcat -C', timeoutMs);
  return performance.now() - started;
}

/**
 * The native pipe, the batch benchmark's reference: the whole topic's payloads straight into a
 * ClickHouse table by its own parser, with no Node in the path, as issue #19 states it:
 * `kcat -C -f '%s\n' … | clickhouse-client --query "INSERT INTO … FORMAT JSONEachRow"`.
 * The table (`native_pipe` in `database`, which must exist) holds the event's JSON fields under
 * their own names, ordered like a queryable table (site, page). Returns the wall time in ms of
 * the pipe alone (the table is created before the clock starts).
 */
export async function nativePipeInsert(brokers: string[], topic: string, clickhouseUrl: string, database: string, timeoutMs = 900_000): Promise<number> {
  const visitColumns = VISIT_FIELDS.map((f) => `${f} String DEFAULT ''`).join(', ');
  await clickhouse(
    clickhouseUrl,
    `CREATE TABLE ${database}.native_pipe (schemaVersion UInt8 DEFAULT 1, eventId String, site String, pageId String, visitorId String, ` +
      `timestamp Int64, referrer String DEFAULT '', userAgent String DEFAULT '', ${visitColumns}) ENGINE = MergeTree() ORDER BY (site, pageId)`,
  );
  const host = new URL(clickhouseUrl).hostname;
  const port = process.env['CLICKHOUSE_TCP_PORT'] || '9000';
  const started = performance.now();
  const reader = spawn('kcat', ['-C', '-b', brokers.join(','), '-t', topic, '-e', '-q', '-o', 'beginning', '-f', '%s\n'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const writer = spawn('clickhouse-client', ['--host', host, '--port', port, '--query', `INSERT INTO ${database}.native_pipe FORMAT JSONEachRow`], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  await Promise.all([once(reader, 'spawn'), once(writer, 'spawn')]);
  reader.stdout!.pipe(writer.stdin!);
  await Promise.all([finished(reader, 'kcat -C (native pipe)', timeoutMs), finished(writer, 'clickhouse-client INSERT (native pipe)', timeoutMs)]);
  return performance.now() - started;
}

/**
 * Appends `count` events to `topic` through `kcat -P` (murmur2 partitioner: the same partition
 * per key as the platform's kafkajs producer), in order of i. Setup only, never timed as a figure.
 */
export async function fillTopic(
  brokers: string[],
  topic: string,
  count: number,
  eventAt: (i: number) => PageView,
  timeoutMs = 900_000,
): Promise<number> {
  const started = performance.now();
  const child = await run(
    'kcat',
    ['-P', '-b', brokers.join(','), '-t', topic, '-K', '\t', '-X', 'partitioner=murmur2_random', '-X', 'linger.ms=20', '-X', 'acks=all'],
    'pipe',
  );
  const done = finished(child, 'kcat -P', timeoutMs);
  const stdin = child.stdin!;
  let lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const event = eventAt(i);
    // Keys hold U+0001, values are JSON: neither contains a tab or a newline.
    lines.push(`${pageViewKey(event)}\t${encodePageView(event)}\n`);
    if (lines.length === 5000) {
      if (!stdin.write(lines.join(''))) await once(stdin, 'drain');
      lines = [];
    }
  }
  stdin.end(lines.join(''));
  await done;
  return performance.now() - started;
}

/** Sum of the end offsets of a topic (records in it, for a fresh topic). */
export async function topicSize(brokers: string[], topic: string): Promise<number> {
  const admin = new Kafka({ brokers, clientId: 'pv-bench', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, o) => sum + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Commits a group's offsets at the end of the topic, so a consumer of that group starts there. */
export async function commitGroupAtEnd(brokers: string[], topic: string, groupId: string): Promise<void> {
  const admin = new Kafka({ brokers, clientId: 'pv-bench', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId, topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
  } finally {
    await admin.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// Machine facts
// ---------------------------------------------------------------------------------------------

export interface MachineFacts {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  kafka: string;
  clickhouse: string;
  kcat: string;
  kafkajs: string;
  loadAverageAtStart: number[];
}

async function version(fn: () => Promise<string>): Promise<string> {
  try {
    return (await fn()).trim();
  } catch (err) {
    return `unknown (${(err as Error).message.split('\n')[0] ?? ''})`;
  }
}

/** Kafka's version from the broker jar the infra script runs (kafka_2.13-<version>.jar). */
async function kafkaVersion(): Promise<string> {
  const libs = path.join(ROOT, '.infra', 'kafka', 'libs');
  const jar = (await readdir(libs)).find((f) => /^kafka_[\d.]+-[\d.]+\.jar$/.test(f));
  if (jar === undefined) throw new Error(`no kafka_*.jar in ${libs}`);
  return jar.replace(/^kafka_[\d.]+-/, '').replace(/\.jar$/, '');
}

export async function machineFacts(env: Pick<BenchEnv, 'clickhouseUrl'>, withServers: boolean): Promise<MachineFacts> {
  const pkg = async (name: string): Promise<string> =>
    (JSON.parse(await readFile(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    kafka: withServers ? await version(kafkaVersion) : 'not used',
    clickhouse: withServers ? await version(() => clickhouse(env.clickhouseUrl, 'SELECT version()')) : 'not used',
    kcat: await version(async () => {
      const { stdout } = await execFileAsync('kcat', ['-V']);
      return /Version (\S+).*?(librdkafka \S+)/.exec(stdout)?.slice(1).join(', ') ?? stdout.split('\n')[3] ?? '';
    }),
    kafkajs: await version(() => pkg('kafkajs')),
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** Creates a topic the way the platform does (KafkaEventLog.ensureTopic: retention, LogAppendTime). */
/** A new ClickHouse database with the platform's schema and no rows, as a fresh deployment has; its name. */
export async function migratedDatabase(env: Pick<BenchEnv, 'clickhouseUrl'>, res: Resources): Promise<string> {
  const database = res.database();
  const store = new ClickHouseViewStore({ url: env.clickhouseUrl, database });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  return database;
}

export async function createTopic(brokers: string[], topic: string, partitions = 4): Promise<void> {
  const log = new KafkaEventLog({ brokers, topic, partitions });
  try {
    await log.ensureTopic();
  } finally {
    await log.close();
  }
}

/** Creates a fresh topic and fills it with `count` events; checks that they all landed. */
export async function filledTopic(env: BenchEnv, res: Resources, count: number, eventAt: (i: number) => PageView): Promise<string> {
  const topic = res.topic();
  await createTopic(env.brokers, topic);
  const ms = await fillTopic(env.brokers, topic, count, eventAt);
  const size = await topicSize(env.brokers, topic);
  if (size !== count) throw new Error(`topic ${topic} holds ${size} records, expected ${count}`);
  env.say(`  filled ${topic} with ${count.toLocaleString('en')} events in ${(ms / 1000).toFixed(1)} s`);
  return topic;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Round-trip times (ms) of `count` sequential trivial queries: the floor of any store read. */
export async function clickhouseRoundTrips(url: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await clickhouse(url, 'SELECT 1');
    out.push(performance.now() - started);
  }
  return out;
}
