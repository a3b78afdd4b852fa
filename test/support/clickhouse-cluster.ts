/**
 * A one-node ClickHouse cluster of the test's own: a ZooKeeper (the jars Kafka's broker ships,
 * in `$INFRA_DIR/kafka/libs`, fetched by scripts/infra.sh) and a clickhouse-server whose config is
 * infra/clickhouse/config.xml plus a cluster of one shard with one replica (itself), macros and a
 * distributed DDL queue. Both on free loopback ports with their data in a temporary folder; stop()
 * ends both processes and removes the folder.
 *
 * Without clickhouse-server, java or the ZooKeeper jar, suites are skipped loudly (the reason in
 * their names, for the skip reporter), unless REQUIRE_INFRA=1: then starting fails, naming the fix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SKIP_MARK } from './infra.ts';
import { until } from './wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

const required = (): boolean => process.env['REQUIRE_INFRA'] === '1';

interface Programs {
  clickhouseServer: string;
  java: string;
  /** The folder of the Kafka broker's jars, ZooKeeper's among them. */
  zookeeperLibs: string;
}

/** An executable named `name` on PATH or in /usr/sbin (where Debian puts clickhouse-server). */
function executable(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), '/usr/sbin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/** What the cluster needs, or what is missing and how to get it. */
function findPrograms(): Programs | { missing: string } {
  const libs = path.join(process.env['INFRA_DIR'] ?? path.join(ROOT, '.infra'), 'kafka', 'libs');
  const jar = fs.existsSync(libs) ? fs.readdirSync(libs).find((f) => /^zookeeper-\d[\w.-]*\.jar$/.test(f)) : undefined;
  const clickhouseServer = executable('clickhouse-server');
  const java = executable('java');
  const missing = [
    clickhouseServer === undefined ? 'clickhouse-server (on PATH or in /usr/sbin)' : null,
    java === undefined ? 'java' : null,
    jar === undefined ? `the ZooKeeper jar (zookeeper-*.jar in ${libs}; INFRA_DIR sets the folder)` : null,
  ].filter((m): m is string => m !== null);
  if (clickhouseServer === undefined || java === undefined || jar === undefined) {
    return { missing: `${missing.join(', ')}: not installed; run 'npm run infra:up'` };
  }
  return { clickhouseServer, java, zookeeperLibs: libs };
}

/** Why a suite on a one-node cluster must be skipped, or undefined (also when REQUIRE_INFRA=1 makes a missing program a failure). */
export function missingClusterPrograms(): string | undefined {
  const programs = findPrograms();
  if (!('missing' in programs) || required()) return undefined;
  return `${SKIP_MARK} ${programs.missing}`;
}

/** Free loopback ports, all distinct: each is held until all are found. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** ZooKeeper's `srvr` four-letter command (allowed by default): its answer, or '' when it does not answer. */
function zookeeperStatus(port: number): Promise<string> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end('srvr'));
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('error', () => resolve(''));
    socket.on('close', () => resolve(answer));
  });
}

/** The server config: the project's template with its placeholders set, and a cluster of one shard with this server as its only replica. */
function clickhouseConfig(dir: string, cluster: string, ports: { http: number; tcp: number; interserver: number; zookeeper: number }): string {
  const template = fs.readFileSync(path.join(ROOT, 'infra', 'clickhouse', 'config.xml'), 'utf8');
  const config = template
    .replaceAll('@CH_DIR@', dir)
    .replaceAll('@CH_HOST@', '127.0.0.1')
    .replaceAll('@CH_HTTP_PORT@', String(ports.http))
    .replaceAll('@CH_TCP_PORT@', String(ports.tcp));
  // internal_replication: a Distributed insert goes to one replica of a shard, and the
  // Replicated table copies it to the others (the setting for Replicated tables).
  const clusterSection = `
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>${ports.interserver}</interserver_http_port>
    <zookeeper>
        <node><host>127.0.0.1</host><port>${ports.zookeeper}</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <remote_servers>
        <${cluster}>
            <shard>
                <internal_replication>true</internal_replication>
                <replica><host>127.0.0.1</host><port>${ports.tcp}</port></replica>
            </shard>
        </${cluster}>
    </remote_servers>
    <macros>
        <shard>01</shard>
        <replica>replica_1</replica>
    </macros>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
</yandex>`;
  if (!config.includes('</yandex>')) throw new Error('infra/clickhouse/config.xml has no </yandex> to add the cluster to');
  return config.replace('</yandex>', clusterSection);
}

export interface OneNodeCluster {
  /** The cluster's name in `<remote_servers>`. */
  cluster: string;
  /** The server's HTTP URL. */
  url: string;
  /** Runs a statement (or query, with its answer as text) over HTTP; a server error throws with its text. */
  query(statement: string): Promise<string>;
  /** Ends both processes (SIGTERM, then SIGKILL past a deadline) and removes their folder. */
  stop(): Promise<void>;
}

/** Ends a process: SIGTERM, SIGKILL if it is still there after STOP_TIMEOUT_MS; resolves once it has exited. */
async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function logTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Fails when `child` has exited, with its log: a process that died will not answer. */
function checkAlive(name: string, child: ChildProcess, log: string): void {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) while starting; ${log}:\n${logTail(log)}`);
  }
}

export async function startOneNodeCluster(cluster: string): Promise<OneNodeCluster> {
  const programs = findPrograms();
  if ('missing' in programs) throw new Error(`REQUIRE_INFRA=1 but the one-node cluster needs ${programs.missing}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cluster-'));
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(end));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [zookeeper = 0, http = 0, tcp = 0, interserver = 0] = await freePorts(4);

    const zkDir = path.join(dir, 'zookeeper');
    fs.mkdirSync(path.join(zkDir, 'data'), { recursive: true });
    const zkConfig = path.join(zkDir, 'zoo.cfg');
    fs.writeFileSync(zkConfig, [`dataDir=${path.join(zkDir, 'data')}`, `clientPort=${zookeeper}`, 'clientPortAddress=127.0.0.1', 'tickTime=500', 'admin.enableServer=false', 'maxClientCnxns=0', ''].join('\n'));
    const zkLog = path.join(zkDir, 'stdout.log');
    const zk = spawn(programs.java, ['-Xmx128m', '-cp', path.join(programs.zookeeperLibs, '*'), 'org.apache.zookeeper.server.ZooKeeperServerMain', zkConfig], {
      cwd: zkDir,
      stdio: ['ignore', fs.openSync(zkLog, 'a'), fs.openSync(zkLog, 'a')],
    });
    children.push(zk);

    // ZooKeeper first: 18.16's distributed DDL worker connects once at start, and a server that
    // found no ZooKeeper then crashes (a segmentation fault) on its first ON CLUSTER statement.
    await until(`ZooKeeper on 127.0.0.1:${zookeeper}`, async () => {
      checkAlive('ZooKeeper', zk, zkLog);
      return (await zookeeperStatus(zookeeper)).includes('Mode: standalone');
    }, START_TIMEOUT_MS, 100);

    const chDir = path.join(dir, 'clickhouse');
    for (const sub of ['etc', 'logs', 'data', 'tmp', 'user_files', 'format_schemas']) fs.mkdirSync(path.join(chDir, sub), { recursive: true });
    const chConfig = path.join(chDir, 'etc', 'config.xml');
    fs.writeFileSync(chConfig, clickhouseConfig(chDir, cluster, { http, tcp, interserver, zookeeper }));
    fs.copyFileSync(path.join(ROOT, 'infra', 'clickhouse', 'users.xml'), path.join(chDir, 'etc', 'users.xml'));
    const chLog = path.join(chDir, 'logs', 'stdout.log');
    // In the foreground, as scripts/infra.sh runs it: config errors land in its output.
    const ch = spawn(programs.clickhouseServer, [`--config-file=${chConfig}`], {
      cwd: chDir,
      stdio: ['ignore', fs.openSync(chLog, 'a'), fs.openSync(chLog, 'a')],
    });
    children.push(ch);

    const url = `http://127.0.0.1:${http}`;
    const query = async (statement: string): Promise<string> => {
      const response = await fetch(`${url}/`, { method: 'POST', body: statement, signal: AbortSignal.timeout(30_000) });
      const text = await response.text();
      if (!response.ok) throw new Error(`ClickHouse answered ${response.status} to ${JSON.stringify(statement.slice(0, 120))}: ${text}`);
      return text;
    };
    const errLog = path.join(chDir, 'logs', 'clickhouse-server.err.log');
    // Up once it answers, and its ZooKeeper session works (Replicated tables and ON CLUSTER need it).
    await until(`clickhouse-server on ${url} with its ZooKeeper session`, async () => {
      checkAlive('clickhouse-server', ch, errLog);
      try {
        return (await query("SELECT count() FROM system.zookeeper WHERE path = '/'")).trim() !== '';
      } catch {
        return false;
      }
    }, START_TIMEOUT_MS, 100);
    return { cluster, url, query, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
