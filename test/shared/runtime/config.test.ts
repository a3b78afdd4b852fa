import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/runtime/config.ts';
import { ENVIRONMENT_VARIABLES, REMOVED_VARIABLES, type AnyVariable, type EnvironmentVariableName, type NumberKind } from '../../../shared/runtime/environment.ts';
import { isPlatformError } from '../../../shared/core/errors.ts';
import { HLL_BATCH_PRECISION } from '../../../shared/core/sketches/index.ts';
import { EMBEDDED_EVENT_LOG_DEFAULTS, KAFKA_EVENT_LOG_DEFAULTS } from '../../../shared/adapters/event-log/index.ts';
import { CLICKHOUSE_STORE_DEFAULTS } from '../../../shared/adapters/view-store/index.ts';
import { SPEED_LAYER_DEFAULTS, SPEED_LAYER_LIMITS, resolveSpeedLayerOptions } from '../../../speed-layer/options.ts';
import { BATCH_SCHEDULER_DEFAULTS } from '../../../batch-layer/index.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (isPlatformError(err, 'PV_CONFIG_INVALID')) return err.details as string[];
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('defaults to the embedded backends with all roles and the generator on', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      roles: ['speed', 'batch', 'serving'],
      kafkaBrokers: null,
      clickhouseUrl: null,
      kafkaTopic: 'page-views',
      generator: true,
      batchCron: '0 2 * * *',
      adminApiKey: null,
    });
  });

  it('turns the generator off by default on Kafka', () => {
    const config = loadConfig({ KAFKA_BROKERS: '127.0.0.1:9092', CLICKHOUSE_URL: 'http://127.0.0.1:8123' });
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(config.generator).toBe(false);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT="abc": must be a whole number from 0 to 65535'],
    [{ PORT: '70000' }, 'PORT="70000": must be a whole number from 0 to 65535'],
    [{ KAFKA_BROKERS: 'localhost' }, 'KAFKA_BROKERS="localhost": must be host:port[,host:port...], e.g. 127.0.0.1:9092'],
    [{ CLICKHOUSE_URL: 'ftp://x' }, 'CLICKHOUSE_URL="ftp://x": must be an http(s) URL, e.g. http://127.0.0.1:8123'],
    [{ CLICKHOUSE_DATABASE: 'a-b;drop' }, 'CLICKHOUSE_DATABASE="a-b;drop": must be at most 64 letters, digits and \'_\', starting with a letter or \'_\''],
    [{ GENERATOR: 'maybe' }, 'GENERATOR="maybe": must be on or off'],
    [{ ROLES: 'speed,oops' }, 'ROLES contains "oops": each role must be one of speed, batch, serving'],
    [{ BATCH_CRON: 'every night' }, 'BATCH_CRON="every night": not a valid cron expression (e.g. \'0 2 * * *\')'],
    [{ BATCH_TIMEZONE: 'Mars/Base' }, 'BATCH_TIMEZONE="Mars/Base": not a known IANA time zone (e.g. UTC, Europe/Berlin)'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY: must be at least 16 characters (use e.g. `openssl rand -hex 24`)'],
    [{ SPEED_CMS_EPSILON: '2' }, 'SPEED_CMS_EPSILON="2": must be a number between 0 and 1, e.g. 0.01'],
    [{ SPEED_HLL_PRECISION: '12' }, 'SPEED_HLL_PRECISION="12": must be 14 (the batch layer\'s precision; visitor unions across the boundary need equal precisions)'],
    [{ SPEED_HLL_PRECISION: '20' }, 'SPEED_HLL_PRECISION="20": must be 14 (the batch layer\'s precision; visitor unions across the boundary need equal precisions)'],
    [{ GENERATOR_RATE: '0' }, 'GENERATOR_RATE="0": must be a number from 0.01 to 1000000, e.g. 0.5'],
    [{ GENERATOR_RATE: '1e3' }, 'GENERATOR_RATE="1e3": must be a number from 0.01 to 1000000, e.g. 0.5'],
    [{ GENERATOR_RATE: '-2' }, 'GENERATOR_RATE="-2": must be a number from 0.01 to 1000000, e.g. 0.5'],
    [{ SPEED_FLUSH_INTERVAL_MS: '5' }, 'SPEED_FLUSH_INTERVAL_MS="5": must be a whole number from 10 to 60000'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ SPEED_ALLOWED_LATENESS_MS: '120000' }, `SPEED_ALLOWED_LATENESS_MS ${REMOVED_VARIABLES['SPEED_ALLOWED_LATENESS_MS']}`],
  ])('names the variable and the fix: %j', (env, message) => {
    expect(problems(env)).toContain(message);
  });

  it.each([
    ['0.1', 0.1],
    ['.5', 0.5],
    ['20', 20],
    ['2.', 2],
  ])('takes GENERATOR_RATE=%s as %d events per second', (text, rate) => {
    expect(problems({ GENERATOR_RATE: text })).toEqual([]);
    expect(loadConfig({ GENERATOR_RATE: text }).generatorRate).toBe(rate);
  });

  it('refuses a single role on embedded backends, which belong to one process', () => {
    expect(problems({ ROLES: 'speed' })[0]).toMatch(/^ROLES=speed: running only some layers in this process needs KAFKA_BROKERS and CLICKHOUSE_URL/);
    expect(problems({ ROLES: 'speed', KAFKA_BROKERS: 'k:9092', CLICKHOUSE_URL: 'http://c:8123' })).toEqual([]);
  });

  it('reports all problems in one error', () => {
    expect(problems({ PORT: 'x', GENERATOR: 'y' })).toHaveLength(2);
  });

  it('never repeats a key or password in a message', () => {
    expect(problems({ ADMIN_API_KEY: 'short-secret' })).toEqual(['ADMIN_API_KEY: must be at least 16 characters (use e.g. `openssl rand -hex 24`)']);
    expect(problems({ READ_API_KEYS: 'first-secret,second-secret' })).toEqual(['READ_API_KEYS: each key must be at least 16 characters']);
  });

  it('keeps a password as given, spaces included', () => {
    expect(loadConfig({ CLICKHOUSE_PASSWORD: ' pass word ' }).clickhousePassword).toBe(' pass word ');
  });
});

describe('every variable states each rule of its value, and a bad value is refused with it', () => {
  const allowed = (name: EnvironmentVariableName): string => ENVIRONMENT_VARIABLES[name].kind.allowed;
  /** A number's rule: its Allowed clause up to the unit in parentheses ("a whole number from 10 to 60000"). */
  const numberRule = (name: EnvironmentVariableName): string => allowed(name).split(' (')[0] ?? '';

  // [variable, bad values, the rule as README's Allowed clause and the message both state it (default: numberRule)]
  const refusals: [EnvironmentVariableName, string[], string?][] = [
    ['PORT', ['abc', '70000', '80.5', '-1']],
    ['ROLES', ['speed,oops', ',', 'all'], 'speed, batch, serving'],
    ['ROLES', ['speed', 'batch,serving'], 'KAFKA_BROKERS and CLICKHOUSE_URL'],
    ['KAFKA_BROKERS', ['localhost', 'kafka:port', '127.0.0.1:9092,kafka', 'a_b:9092'], 'host:port[,host:port...]'],
    ['KAFKA_TOPIC', ['page views', 'x'.repeat(250), 'topic/1'], "at most 249 letters, digits, '.', '_' or '-'"],
    ['KAFKA_PARTITIONS', ['0', '1025', 'two']],
    ['CLICKHOUSE_URL', ['ftp://x', '127.0.0.1:8123', 'clickhouse'], 'http(s) URL'],
    ['CLICKHOUSE_DATABASE', ['a-b;drop', '1db', 'x'.repeat(65)], "at most 64 letters, digits and '_', starting with a letter or '_'"],
    ['CLICKHOUSE_REQUEST_TIMEOUT_MS', ['50', '1s', '600001']],
    ['GENERATOR', ['maybe', 'enabled'], 'on or off'],
    ['GENERATOR_RATE', ['0', '1e3', '-2', 'fast']],
    ['GENERATOR_HISTORY_DAYS', ['61', '1.5']],
    ['GENERATOR_HISTORY_EVENTS_PER_DAY', ['0', '100001']],
    ['ADMIN_API_KEY', ['short', 'fifteen-chars!!'], 'at least 16 characters'],
    ['SERVING_REFRESH_INTERVAL_MS', ['5', '60001']],
    ['SERVING_MAX_STALENESS_MS', ['99']],
    ['SERVING_MEMORY_BUDGET_MB', ['-1', '1048577']],
    ['SERVING_BATCH_HOURS_DAYS', ['401']],
    ['SERVING_CACHE_BUDGET_MB', ['65537']],
    ['SERVING_REQUEST_TIMEOUT_MS', ['600001']],
    ['READ_API_KEYS', ['short', 'a-long-enough-read-key,short'], 'at least 16 characters'],
    ['TRUST_PROXY', ['everyone', '10.0.0.0/33', '10.0.0.1/8/8'], 'off, a number of proxy hops, or comma-separated addresses or subnets'],
    ['INGEST_RATE_LIMIT', ['fast', '1000000001']],
    ['INGEST_SERVER_RATE_LIMIT', ['-1']],
    ['INGEST_ALLOWED_ORIGINS', ['shop.example', 'shop=ftp://shop.example', 'shop=https://a;blog'], 'site=origin[ origin…]'],
    ['GEOIP', ['sometimes'], 'on or off'],
    ['BATCH_CRON', ['every night', '61 * * * *', '* * *'], 'cron expression'],
    ['BATCH_TIMEZONE', ['Mars/Base', 'CEST+1'], 'known IANA time zone'],
    ['SPEED_FLUSH_INTERVAL_MS', ['5', '60001']],
    ['SPEED_FLUSH_IDLE_INTERVAL_MS', ['9']],
    ['SPEED_SKETCH_INTERVAL_MS', ['60001']],
    ['SPEED_HOT_WINDOW_MS', ['604800001']],
    ['SPEED_MEMORY_BUDGET_MB', ['0']],
    ['SPEED_MAX_FUTURE_SKEW_MS', ['-5']],
    ['SPEED_MAX_EXACT_KEYS', ['100000001']],
    ['SPEED_CMS_EPSILON', ['2', '1', '0', '1e-2'], 'a number between 0 and 1'],
    ['SPEED_CMS_DELTA', ['0.0.1'], 'a number between 0 and 1'],
    ['SPEED_HLL_PRECISION', ['12', '20'], '14'],
    ['SPEED_RETENTION_MARGIN_MS', ['1d']],
    ['LOG_LEVEL', ['loud'], 'one of fatal, error, warn, info, debug, trace, silent'],
  ];

  it('has a bad value for every variable whose rule is not "any text"', () => {
    const tested = new Set(refusals.map(([name]) => name));
    const untested = (Object.keys(ENVIRONMENT_VARIABLES) as EnvironmentVariableName[]).filter((name) => !tested.has(name) && !allowed(name).startsWith('any text'));
    expect(untested).toEqual([]);
  });

  it.each(refusals)('%s: each of %j is refused naming the variable and its rule as README states it', (name, values, rule = numberRule(name)) => {
    expect(allowed(name)).toContain(rule);
    for (const value of values) {
      const found = problems({ [name]: value });
      expect(found, value).not.toEqual([]);
      for (const problem of found) {
        expect(problem.startsWith(name), problem).toBe(true);
        expect(problem, value).toContain(rule);
      }
    }
  });

  it('takes any text where README says "any text"', () => {
    const anyText = (Object.keys(ENVIRONMENT_VARIABLES) as EnvironmentVariableName[]).filter((name) => allowed(name).startsWith('any text'));
    expect(anyText.sort()).toEqual(['CLICKHOUSE_PASSWORD', 'CLICKHOUSE_USER', 'DATA_DIR', 'HOST']);
    for (const name of anyText) expect(problems({ [name]: ' odd; value = , with spaces ' }), name).toEqual([]);
  });
});

describe('the environment declaration', () => {
  const variables = Object.entries(ENVIRONMENT_VARIABLES) as [string, AnyVariable][];

  it('gives each variable its own PlatformConfig field, and the defaults are loadConfig({})', () => {
    const config = loadConfig({});
    expect(Object.keys(config).sort()).toEqual(variables.map(([, v]) => v.field).sort());
    for (const [, v] of variables) {
      if (typeof v.default !== 'function') expect(config[v.field as keyof typeof config], v.field).toEqual(v.default);
    }
  });

  it('allows its own defaults', () => {
    for (const [name, v] of variables) {
      if (v.default === null || typeof v.default === 'function') continue;
      const kind = v.kind as Partial<NumberKind>;
      const result = kind.schema === undefined ? v.kind.text.safeParse(typeof v.default === 'string' ? v.default : v.kind.show(v.default)) : kind.schema.safeParse(v.default);
      expect(result.success, name).toBe(true);
    }
  });

  it('is where the components take the defaults an environment variable also sets', () => {
    const config = loadConfig({});
    // A speed option set by a variable has that variable's kind (its range) and its default.
    const shared = Object.entries(SPEED_LAYER_LIMITS).flatMap(([option, kind]) => {
      const variable = variables.find(([, v]) => v.kind === kind)?.[1];
      return variable === undefined ? [] : [[option, variable] as const];
    });
    expect(shared.map(([option]) => option)).toHaveLength(10);
    for (const [option, variable] of shared) {
      expect(SPEED_LAYER_DEFAULTS[option as keyof typeof SPEED_LAYER_DEFAULTS], option).toBe(config[variable.field as keyof typeof config]);
    }
    expect(BATCH_SCHEDULER_DEFAULTS).toEqual({ cron: config.batchCron, timezone: config.batchTimezone });
    // The adapters own these; the declaration reads the embedded log's and the ClickHouse store's
    // constants. The Kafka log keeps a constant of its own, which must agree.
    expect([EMBEDDED_EVENT_LOG_DEFAULTS.partitions, KAFKA_EVENT_LOG_DEFAULTS.partitions]).toEqual([config.kafkaPartitions, config.kafkaPartitions]);
    expect([CLICKHOUSE_STORE_DEFAULTS.username, CLICKHOUSE_STORE_DEFAULTS.password]).toEqual([config.clickhouseUser, config.clickhousePassword]);
  });

  it('gives the speed layer the same ranges as the SPEED_* variables', () => {
    const speed = (options: Parameters<typeof resolveSpeedLayerOptions>[0]): string => {
      try {
        resolveSpeedLayerOptions(options);
        return 'accepted';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(SPEED_LAYER_LIMITS.flushIntervalMs).toBe(ENVIRONMENT_VARIABLES.SPEED_FLUSH_INTERVAL_MS.kind);
    expect(speed({ flushIntervalMs: 5 })).toBe("speed layer option 'flushIntervalMs' must be a whole number from 10 to 60000, got 5");
    expect(speed({ flushIntervalMs: 10 })).toBe('accepted');
    expect(problems({ SPEED_FLUSH_INTERVAL_MS: '10' })).toEqual([]);
    expect(speed({ hllPrecision: 12 })).toBe(
      `speed layer option 'hllPrecision' must be ${HLL_BATCH_PRECISION} (the batch layer's precision; visitor unions across the boundary need equal precisions), got 12`,
    );
    expect(speed({ cmsEpsilon: 1 })).toBe("speed layer option 'cmsEpsilon' must be a number between 0 and 1, e.g. 0.01, got 1");
  });

  it('is the only way loadConfig reads the environment: it reads every declared variable, the removed ones (to refuse them) and nothing else', () => {
    // A Proxy records every access, including enumeration and `in`: a read of an undeclared
    // name (or a loop over the whole environment) shows up here.
    const read = new Set<string>();
    const env = new Proxy({} as Record<string, string | undefined>, {
      get: (_target, name) => (read.add(String(name)), undefined),
      has: (_target, name) => (read.add(`in:${String(name)}`), false),
      ownKeys: () => (read.add('(enumerated)'), []),
    });
    loadConfig(env);
    expect([...read].sort()).toEqual([...Object.keys(ENVIRONMENT_VARIABLES), ...Object.keys(REMOVED_VARIABLES)].sort());
  });

  it('no product module reads process.env except by handing it to loadConfig', () => {
    // Only entry points read the environment, and only as `loadConfig(process.env)`: any other
    // `process.env` in product code (process.env.X, process.env['X'], const env = process.env)
    // would be a variable the declaration does not know. Tests and benchmarks set their own
    // variables and are not scanned. Comments are scanned too; say "the environment" there.
    const root = path.resolve(import.meta.dirname, '..', '..', '..');
    const folders = ['cli', 'shared', 'collector', 'speed-layer', 'batch-layer', 'serving-layer', 'scripts'];
    const files = folders.flatMap((folder) =>
      (fs.readdirSync(path.join(root, folder), { recursive: true, encoding: 'utf8' }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(folder, f)),
    );
    expect(files.length).toBeGreaterThan(50);
    const reads: string[] = [];
    for (const file of files) {
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      for (const match of text.matchAll(/process\.env\b/g)) {
        if (!/loadConfig\($/.test(text.slice(0, match.index)) || text[match.index + match[0].length] !== ')') {
          reads.push(`${file}:${text.slice(0, match.index).split('\n').length}`);
        }
      }
    }
    expect(reads).toEqual([]);
  });
});
