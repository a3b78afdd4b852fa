/**
 * docker-compose.yml cannot be run here (no Docker engine), so it is checked statically:
 * the three layer services with their ROLES, the Kafka image, ports shared with
 * scripts/infra.sh, and that the layers only use documented environment variables.
 *
 * No YAML package is installed: a tiny, strict parser for the subset the compose file is
 * written in lives below (block mappings, block sequences of scalars, quoted/plain scalars,
 * flow sequences of scalars). Anything else is a parse error, never a silent misread.
 * When the `docker compose` CLI is present, `docker compose config` (works without a
 * daemon) validates the file too and must agree with the parser.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES } from '../../shared/runtime/config.ts';
import { DEFAULT_TEST_CLICKHOUSE_URL, DEFAULT_TEST_KAFKA_BROKERS } from '../support/infra-probe.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');

/** Environment variables the application documents (shared/config.ts); compose may set no others on the layers. */
const DOCUMENTED_ENV = Object.keys(ENVIRONMENT_VARIABLES);

const LAYERS = ['speed', 'batch', 'serving'] as const;

// ---------------------------------------------------------------------------------------
// Minimal strict YAML-subset parser.

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

interface Line {
  no: number;
  indent: number;
  text: string;
}

class YamlSubsetError extends Error {}

function fail(line: Line | undefined, message: string): never {
  throw new YamlSubsetError(line ? `line ${line.no}: ${message}: ${line.text}` : message);
}

/** Removes a trailing comment (a `#` at the start or after whitespace, outside quotes). */
function stripComment(raw: string): string {
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = null;
    } else if (quote === "'") {
      if (c === "'") quote = null; // '' re-opens on the next char: same result
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || raw[i - 1] === ' ')) {
      return raw.slice(0, i).trimEnd();
    }
  }
  return raw.trimEnd();
}

/** Splits on commas that are outside quotes. */
function splitFlow(inner: string): string[] {
  const parts: string[] = [];
  let quote: '"' | "'" | null = null;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = null;
    } else if (quote === "'") {
      if (c === "'") quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === ',') {
      parts.push(inner.slice(start, i));
      start = i + 1;
    } else if (c === '[' || c === ']' || c === '{' || c === '}') {
      throw new YamlSubsetError(`nested flow collections are not supported: [${inner}]`);
    }
  }
  parts.push(inner.slice(start));
  return parts.map((p) => p.trim());
}

function parseScalar(s: string, line: Line): string {
  if (s.startsWith('"')) {
    if (s.length < 2 || !s.endsWith('"')) fail(line, 'unterminated double-quoted scalar');
    try {
      const v: unknown = JSON.parse(s);
      if (typeof v !== 'string') fail(line, 'bad double-quoted scalar');
      return v;
    } catch (e) {
      if (e instanceof YamlSubsetError) throw e;
      return fail(line, 'unsupported escape in double-quoted scalar');
    }
  }
  if (s.startsWith("'")) {
    if (s.length < 2 || !s.endsWith("'")) fail(line, 'unterminated single-quoted scalar');
    const inner = s.slice(1, -1);
    if (/'/.test(inner.replace(/''/g, ''))) fail(line, 'stray quote in single-quoted scalar');
    return inner.replace(/''/g, "'");
  }
  if (s === '') fail(line, 'empty scalar');
  if (/^[&*!|>{}@`%]/.test(s)) fail(line, 'anchors, aliases, tags, block scalars and flow mappings are not supported');
  if (/^- /.test(s) || s === '-') fail(line, 'nested sequences are not supported');
  if (/:( |$)/.test(s)) fail(line, 'plain scalar looks like a mapping; quote it');
  return s;
}

function parseValue(s: string, line: Line): Yaml {
  if (s.startsWith('[')) {
    if (!s.endsWith(']')) fail(line, 'flow sequence must end on the same line');
    const inner = s.slice(1, -1).trim();
    if (inner === '') return [];
    try {
      return splitFlow(inner).map((p) => parseScalar(p, line));
    } catch (e) {
      if (e instanceof YamlSubsetError && !e.message.startsWith('line')) fail(line, e.message);
      throw e;
    }
  }
  return parseScalar(s, line);
}

const KEY = /^([A-Za-z0-9_.-]+|"[^"\\]*"|'[^']*'):(?: +(.*))?$/;

function parseYamlSubset(source: string): Yaml {
  const lines: Line[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    const line = { no: i + 1, indent: 0, text: raw };
    if (/^ *\t/.test(raw)) fail(line, 'tab in indentation');
    const text = stripComment(raw);
    if (text.trim() === '') return;
    if (text === '---' || text === '...') fail(line, 'document markers are not supported');
    lines.push({ no: i + 1, indent: text.length - text.trimStart().length, text: text.trim() });
  });
  let pos = 0;

  const isItem = (text: string): boolean => text === '-' || text.startsWith('- ');

  function parseBlock(indent: number): Yaml {
    const first = lines[pos];
    if (first === undefined) return null;
    return isItem(first.text) ? parseSeq(indent) : parseMap(indent);
  }

  function parseMap(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    while (pos < lines.length) {
      const line = lines[pos];
      if (line === undefined || line.indent < indent) break;
      if (line.indent > indent) fail(line, 'unexpected indentation');
      if (isItem(line.text)) fail(line, 'sequence item where a mapping key was expected');
      const m = KEY.exec(line.text);
      if (m === null) fail(line, 'expected "key: value" or "key:"');
      const rawKey = m[1] ?? '';
      const key = /^["']/.test(rawKey) ? rawKey.slice(1, -1) : rawKey;
      if (Object.prototype.hasOwnProperty.call(out, key)) fail(line, `duplicate key "${key}"`);
      if (key === '__proto__') fail(line, 'forbidden key');
      pos++;
      const rest = m[2];
      if (rest === undefined || rest === '') {
        const next = lines[pos];
        out[key] = next !== undefined && next.indent > indent ? parseBlock(next.indent) : null;
      } else {
        out[key] = parseValue(rest, line);
      }
    }
    return out;
  }

  function parseSeq(indent: number): Yaml[] {
    const out: Yaml[] = [];
    while (pos < lines.length) {
      const line = lines[pos];
      if (line === undefined || line.indent < indent) break;
      if (line.indent > indent) fail(line, 'unexpected indentation');
      if (!isItem(line.text)) fail(line, 'expected "- item"');
      const rest = line.text.slice(1).trim();
      if (rest === '') fail(line, 'empty or nested block in a sequence item is not supported');
      if (KEY.test(rest)) fail(line, 'mappings inside sequences are not supported');
      pos++;
      out.push(parseValue(rest, line));
    }
    return out;
  }

  if (lines.length === 0) return null;
  if (lines[0]?.indent !== 0) fail(lines[0], 'top level must not be indented');
  const doc = parseBlock(0);
  if (pos < lines.length) fail(lines[pos], 'trailing content');
  return doc;
}

// ---------------------------------------------------------------------------------------
// Typed access helpers.

type YamlMap = { [key: string]: Yaml };

function asMap(v: Yaml | undefined, where: string): YamlMap {
  if (v === null || v === undefined || typeof v === 'string' || Array.isArray(v)) {
    throw new Error(`${where}: expected a mapping`);
  }
  return v;
}

function asSeq(v: Yaml | undefined, where: string): Yaml[] {
  if (!Array.isArray(v)) throw new Error(`${where}: expected a sequence`);
  return v;
}

function asStr(v: Yaml | undefined, where: string): string {
  if (typeof v !== 'string') throw new Error(`${where}: expected a scalar`);
  return v;
}

function strings(v: Yaml | undefined, where: string): string[] {
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
const compose = asMap(parseYamlSubset(composeText), 'docker-compose.yml');
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

describe('YAML subset parser (used for docker-compose.yml)', () => {
  it('parses mappings, sequences, quoted and flow scalars', () => {
    const doc = parseYamlSubset(
      [
        '# comment',
        'a:',
        '  b: "x # not a comment"',
        "  c: 'it''s'",
        '  d: [CMD, "e f"]  # trailing',
        '  e:',
        '    - -e',
        '    - "1:2"',
        '  f:',
        'g: plain value',
      ].join('\n'),
    );
    expect(doc).toEqual({ a: { b: 'x # not a comment', c: "it's", d: ['CMD', 'e f'], e: ['-e', '1:2'], f: null }, g: 'plain value' });
  });

  it.each([
    ['tabs', 'a:\n\tb: c'],
    ['duplicate keys', 'a: 1\na: 2'],
    ['anchors', 'a: &x 1'],
    ['block scalars', 'a: |\n  text'],
    ['flow mappings', 'a: {b: c}'],
    ['mappings in sequences', 'a:\n  - b: c'],
    ['bad indentation', 'a:\n    b: 1\n  c: 2'],
    ['unquoted colon-space', 'a: b: c'],
  ])('rejects %s', (_what, text) => {
    expect(() => parseYamlSubset(text)).toThrow(YamlSubsetError);
  });
});

describe('docker-compose.yml', () => {
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
    `docker compose config accepts the file and agrees with the parser${cli.ok ? '' : ` (SKIPPED: ${cli.why})`}`,
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
