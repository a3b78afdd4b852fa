/**
 * docker-compose.yml cannot be run here (no Docker engine), so it is checked statically:
 * the three layer services with their ROLES, the Kafka image, ports shared with
 * scripts/infra.sh, and that the layers only use documented environment variables.
 *
 * The file is read with the `yaml` package and must parse without errors or warnings.
 * When the `docker compose` CLI is present, `docker compose config` (works without a
 * daemon) validates the file too and must agree with what `yaml` read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { ENVIRONMENT_VARIABLES } from '../../shared/runtime/config.ts';
import { DEFAULT_TEST_CLICKHOUSE_URL, DEFAULT_TEST_KAFKA_BROKERS } from '../support/infra-probe.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');

/** Environment variables the application documents (shared/config.ts); compose may set no others on the layers. */
const DOCUMENTED_ENV = Object.keys(ENVIRONMENT_VARIABLES);

const LAYERS = ['speed', 'batch', 'serving'] as const;

// ---------------------------------------------------------------------------------------
// Typed access helpers.

type YamlMap = { [key: string]: unknown };

function asMap(v: unknown, where: string): YamlMap {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}: expected a mapping`);
  return v as YamlMap;
}

function asSeq(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${where}: expected a sequence`);
  return v;
}

function asStr(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new Error(`${where}: expected a string`);
  return v;
}

function strings(v: unknown, where: string): string[] {
  return asSeq(v, where).map((x, i) => asStr(x, `${where}[${i}]`));
}

/** Host ports published by a service: "[ip:]host:container" → host. */
function publishedPorts(service: YamlMap, name: string): number[] {
  if (service['ports'] === undefined) return [];
  return strings(service['ports'], `${name}.ports`).map((p) => {
    const parts = p.split(':');
    const host = parts.length >= 2 ? parts[parts.length - 2] : undefined;
    if (host === undefined || !/^\d+$/.test(host)) throw new Error(`${name}.ports: cannot read "${p}"`);
    return Number(host);
  });
}

function portOf(hostPortOrUrl: string): number {
  const m = /:(\d+)\/?$/.exec(hostPortOrUrl);
  if (!m?.[1]) throw new Error(`no port in ${hostPortOrUrl}`);
  return Number(m[1]);
}

/** Default of `VAR="${VAR:-default}"` in scripts/infra.sh. */
function infraDefault(script: string, name: string): string {
  const m = new RegExp(`^${name}="\\$\\{${name}:-([^}]*)\\}"`, 'm').exec(script);
  if (!m?.[1]) throw new Error(`scripts/infra.sh has no default for ${name}`);
  return m[1];
}

// ---------------------------------------------------------------------------------------

const composeText = fs.readFileSync(COMPOSE_FILE, 'utf8');
const composeDocument = parseDocument(composeText, { prettyErrors: true });
const compose = asMap(composeDocument.toJS(), 'docker-compose.yml');
const services = asMap(compose['services'], 'services');
const service = (name: string): YamlMap => asMap(services[name], `services.${name}`);
const env = (name: string): YamlMap => asMap(service(name)['environment'], `services.${name}.environment`);
const infraScript = fs.readFileSync(path.join(ROOT, 'scripts', 'infra.sh'), 'utf8');

function composeCli(): { ok: true } | { ok: false; why: string } {
  const r = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 15_000 });
  if (r.error) return { ok: false, why: `docker CLI not runnable (${r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `'docker compose' not available (${(r.stderr || r.stdout).trim().split('\n')[0]})` };
  return { ok: true };
}
const cli = composeCli();

describe('docker-compose.yml', () => {
  it('parses as YAML without errors or warnings', () => {
    expect(composeDocument.errors.map((e) => e.message)).toEqual([]);
    expect(composeDocument.warnings.map((w) => w.message)).toEqual([]);
  });

  it('has kafka, clickhouse and the three layers', () => {
    expect(Object.keys(services).sort()).toEqual(['batch', 'clickhouse', 'kafka', 'serving', 'speed']);
  });

  it('uses the official apache/kafka 3.9.x image in KRaft mode', () => {
    expect(asStr(service('kafka')['image'], 'kafka.image')).toMatch(/^apache\/kafka:3\.9\.\d+$/);
    expect(env('kafka')['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
    expect(asStr(env('kafka')['KAFKA_ADVERTISED_LISTENERS'], 'advertised')).toContain('PLAINTEXT://kafka:9092');
    expect(service('kafka')['healthcheck']).toBeDefined();
  });

  it('uses the official clickhouse/clickhouse-server image with a /ping healthcheck', () => {
    expect(asStr(service('clickhouse')['image'], 'clickhouse.image')).toMatch(/^clickhouse\/clickhouse-server(:|$)/);
    const test = strings(asMap(service('clickhouse')['healthcheck'], 'healthcheck')['test'], 'clickhouse.healthcheck.test');
    expect(test.join(' ')).toContain(':8123/ping');
  });

  it('publishes the same ports as scripts/infra.sh and the test probe defaults', () => {
    const kafkaPort = Number(infraDefault(infraScript, 'KAFKA_PORT'));
    const chPort = Number(infraDefault(infraScript, 'CLICKHOUSE_HTTP_PORT'));
    expect(kafkaPort).toBe(9092);
    expect(chPort).toBe(8123);
    expect(portOf(DEFAULT_TEST_KAFKA_BROKERS)).toBe(kafkaPort);
    expect(portOf(DEFAULT_TEST_CLICKHOUSE_URL)).toBe(chPort);
    expect(publishedPorts(service('kafka'), 'kafka')).toContain(kafkaPort);
    expect(publishedPorts(service('clickhouse'), 'clickhouse')).toContain(chPort);
    // Host clients are told to come back on the published port.
    expect(asStr(env('kafka')['KAFKA_ADVERTISED_LISTENERS'], 'advertised')).toContain(`127.0.0.1:${kafkaPort}`);
  });

  it.each(LAYERS)('layer %s: built from the repo, right ROLES, wired to kafka and clickhouse', (layer) => {
    const s = service(layer);
    expect(s['build']).toBe('.');
    const e = env(layer);
    expect(e['ROLES']).toBe(layer);
    expect(e['KAFKA_BROKERS']).toBe('kafka:9092');
    expect(e['KAFKA_TOPIC']).toBe('page-views');
    expect(e['CLICKHOUSE_URL']).toBe('http://clickhouse:8123');
    expect(e['CLICKHOUSE_DATABASE']).toBe('pageviews');
    const deps = asMap(s['depends_on'], `${layer}.depends_on`);
    for (const dep of ['kafka', 'clickhouse']) {
      expect(asMap(deps[dep], `${layer}.depends_on.${dep}`)['condition']).toBe('service_healthy');
    }
  });

  it.each(LAYERS)('layer %s: only documented environment variables', (layer) => {
    const undocumented = Object.keys(env(layer)).filter((k) => !(DOCUMENTED_ENV as readonly string[]).includes(k));
    expect(undocumented).toEqual([]);
  });

  it('interpolates no undocumented host variables', () => {
    const used = [...composeText.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] ?? '');
    expect(used.filter((v) => !(DOCUMENTED_ENV as readonly string[]).includes(v))).toEqual([]);
  });

  it('serving listens on PORT=3000 with a healthcheck on /api/v1/health', () => {
    const s = service('serving');
    expect(env('serving')['PORT']).toBe('3000');
    expect(publishedPorts(s, 'serving')).toContain(3000);
    const test = strings(asMap(s['healthcheck'], 'serving.healthcheck')['test'], 'serving.healthcheck.test');
    expect(test.join(' ')).toContain('http://localhost:3000/api/v1/health');
  });

  it('Dockerfile: node:20 base, npm ci, runs cli/start.ts with tsx', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20\b/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toMatch(/^CMD \["npx", "tsx", "cli\/start\.ts"\]$/m);
  });

  it.skipIf(!cli.ok)(
    `docker compose config accepts the file and agrees with what yaml read${cli.ok ? '' : ` (SKIPPED: ${cli.why})`}`,
    () => {
      const r = spawnSync('docker', ['compose', '-f', COMPOSE_FILE, 'config', '--format', 'json'], {
        encoding: 'utf8',
        timeout: 30_000,
        cwd: ROOT,
      });
      expect(r.status, r.stderr).toBe(0);
      const parsed = JSON.parse(r.stdout) as { services: Record<string, { image?: string; environment?: Record<string, string> }> };
      expect(Object.keys(parsed.services).sort()).toEqual(Object.keys(services).sort());
      expect(parsed.services['kafka']?.image).toBe(service('kafka')['image']);
      for (const layer of LAYERS) {
        expect(parsed.services[layer]?.environment).toEqual(env(layer));
      }
    },
  );
});
