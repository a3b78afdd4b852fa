/**
 * Platform configuration from environment variables. Only entry points (cli/) call
 * `loadConfig(process.env)`; library modules take the typed options it produces.
 * Every problem is reported at start, naming the variable and what to do.
 */
import path from 'node:path';
import { validate as validateCron } from 'node-cron';
import { PlatformError } from '../core/errors.ts';

export const ROLE_NAMES = ['speed', 'batch', 'serving'] as const;
export type Role = (typeof ROLE_NAMES)[number];

export interface PlatformConfig {
  /** HTTP port of the serving layer (API and collector). */
  port: number;
  /** Interface the HTTP server binds to. */
  host: string;
  /** Which layers this process runs. */
  roles: Role[];
  /** Kafka brokers; null selects the embedded log. */
  kafkaBrokers: string[] | null;
  kafkaTopic: string;
  kafkaPartitions: number;
  /** ClickHouse HTTP URL; null selects embedded DuckDB. */
  clickhouseUrl: string | null;
  clickhouseDatabase: string;
  clickhouseUser: string;
  clickhousePassword: string;
  /** Folder for the embedded log and the DuckDB file. */
  dataDir: string;
  generator: boolean;
  /** Events per second of the built-in generator. */
  generatorRate: number;
  /** Bearer token for admin routes; null disables them. */
  adminApiKey: string | null;
  /** Bearer tokens accepted by the read API; empty: the read API is open. */
  readApiKeys: string[];
  /** How long the serving layer reuses the batch boundary between requests (ms). */
  servingBoundaryCacheMs: number;
  batchCron: string;
  batchTimezone: string;
  speedFlushIntervalMs: number;
  speedAllowedLatenessMs: number;
  speedMaxFutureSkewMs: number;
  speedMaxExactKeys: number;
  speedCmsEpsilon: number;
  speedCmsDelta: number;
  speedHllPrecision: number;
  speedRetentionMarginMs: number;
  logLevel: string;
}

/** Every variable the platform reads, with its default and meaning (README's table is checked against it). */
export const ENVIRONMENT_VARIABLES = {
  PORT: { default: '3000', description: 'HTTP port of the serving layer (REST API and collector).' },
  HOST: { default: '127.0.0.1', description: 'Interface the HTTP server binds to (0.0.0.0 in containers).' },
  ROLES: { default: 'speed,batch,serving', description: 'Layers this process runs, comma-separated: speed, batch, serving.' },
  KAFKA_BROKERS: { default: '(unset: embedded log)', description: 'Comma-separated Kafka brokers, e.g. 127.0.0.1:9092. Unset: the embedded log in DATA_DIR.' },
  KAFKA_TOPIC: { default: 'page-views', description: 'The page-view topic (the master dataset).' },
  KAFKA_PARTITIONS: { default: '4', description: 'Partitions of the topic when the platform creates it.' },
  CLICKHOUSE_URL: { default: '(unset: embedded DuckDB)', description: 'ClickHouse HTTP URL, e.g. http://127.0.0.1:8123. Unset: DuckDB in DATA_DIR.' },
  CLICKHOUSE_DATABASE: { default: 'pageviews', description: 'ClickHouse database; created when missing.' },
  CLICKHOUSE_USER: { default: 'default', description: 'ClickHouse user.' },
  CLICKHOUSE_PASSWORD: { default: '(empty)', description: 'ClickHouse password.' },
  DATA_DIR: { default: './data', description: 'Folder for the embedded log and the DuckDB file.' },
  GENERATOR: { default: 'on (embedded), off (Kafka)', description: 'Built-in traffic generator: on or off.' },
  GENERATOR_RATE: { default: '20', description: 'Events per second of the built-in generator.' },
  ADMIN_API_KEY: { default: '(unset: admin routes disabled)', description: 'Bearer token required by admin routes (e.g. triggering a batch run).' },
  SERVING_BOUNDARY_CACHE_MS: { default: '1000', description: 'How long the serving layer reuses the batch boundary between requests (ms); 0 reads it for every request.' },
  READ_API_KEYS: { default: '(unset: read API open)', description: 'Comma-separated bearer tokens; when set, the read API (stats, pages, realtime, boundary, runs) requires one.' },
  BATCH_CRON: { default: '0 2 * * *', description: 'When the batch layer recomputes (cron syntax).' },
  BATCH_TIMEZONE: { default: 'UTC', description: 'Time zone of BATCH_CRON.' },
  SPEED_FLUSH_INTERVAL_MS: { default: '500', description: 'How often the speed layer writes its views and checkpoints (ms).' },
  SPEED_ALLOWED_LATENESS_MS: { default: '120000', description: 'Speed-layer watermark lag (ms): events for minute buckets behind it are late, left to the batch layer.' },
  SPEED_MAX_FUTURE_SKEW_MS: { default: '300000', description: 'Events further ahead of the clock (ms) go to the dead-letter topic.' },
  SPEED_MAX_EXACT_KEYS: { default: '25000', description: 'Exact page-minute counters per partition; beyond them, Count-Min and top-pages sketches.' },
  SPEED_CMS_EPSILON: { default: '0.01', description: 'Count-Min ε: a page estimate overcounts by at most ε × the minute\'s overflow events.' },
  SPEED_CMS_DELTA: { default: '0.01', description: 'Count-Min δ: the overcount bound holds with probability 1 − δ.' },
  SPEED_HLL_PRECISION: { default: '14', description: 'HyperLogLog precision (4-18); 14 gives a 0.81% standard error.' },
  SPEED_RETENTION_MARGIN_MS: { default: '172800000', description: 'Speed buckets are kept from the batch boundary minus this margin (ms, 48 h).' },
  LOG_LEVEL: { default: 'info', description: 'pino log level: fatal, error, warn, info, debug, trace, silent.' },
} as const;

export type EnvironmentVariable = keyof typeof ENVIRONMENT_VARIABLES;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
const DATABASE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const BROKER_RE = /^[A-Za-z0-9.-]+:\d{1,5}$/;

export function loadConfig(env: Readonly<Record<string, string | undefined>>): PlatformConfig {
  const problems: string[] = [];
  const get = (name: EnvironmentVariable): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const int = (name: EnvironmentVariable, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const fraction = (name: EnvironmentVariable, fallback: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^0?\.\d+$/.test(raw) || !(n > 0 && n < 1)) {
      problems.push(`${name}=${JSON.stringify(raw)}: must be a number between 0 and 1, e.g. 0.01`);
      return fallback;
    }
    return n;
  };
  const onOff = (name: EnvironmentVariable, fallback: boolean): boolean => {
    const raw = get(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['on', 'true', '1', 'yes'].includes(raw)) return true;
    if (['off', 'false', '0', 'no'].includes(raw)) return false;
    problems.push(`${name}=${JSON.stringify(raw)}: must be on or off`);
    return fallback;
  };

  const port = int('PORT', 3000, 0, 65535);
  const host = get('HOST') ?? '127.0.0.1';

  const roles: Role[] = [];
  for (const part of (get('ROLES') ?? ROLE_NAMES.join(',')).split(',').map((r) => r.trim()).filter(Boolean)) {
    if ((ROLE_NAMES as readonly string[]).includes(part)) {
      if (!roles.includes(part as Role)) roles.push(part as Role);
    } else {
      problems.push(`ROLES contains ${JSON.stringify(part)}: each role must be one of ${ROLE_NAMES.join(', ')}`);
    }
  }
  if (roles.length === 0 && problems.length === 0) problems.push('ROLES: name at least one of speed, batch, serving');

  const brokersRaw = get('KAFKA_BROKERS');
  let kafkaBrokers: string[] | null = null;
  if (brokersRaw !== undefined) {
    kafkaBrokers = brokersRaw.split(',').map((b) => b.trim()).filter(Boolean);
    const bad = kafkaBrokers.filter((b) => !BROKER_RE.test(b));
    if (bad.length > 0 || kafkaBrokers.length === 0) {
      problems.push(`KAFKA_BROKERS=${JSON.stringify(brokersRaw)}: must be host:port[,host:port...], e.g. 127.0.0.1:9092`);
    }
  }
  const kafkaTopic = get('KAFKA_TOPIC') ?? 'page-views';
  if (!TOPIC_RE.test(kafkaTopic)) problems.push(`KAFKA_TOPIC=${JSON.stringify(kafkaTopic)}: use letters, digits, '.', '_' or '-'`);
  const kafkaPartitions = int('KAFKA_PARTITIONS', 4, 1, 1024);

  const clickhouseRaw = get('CLICKHOUSE_URL');
  let clickhouseUrl: string | null = null;
  if (clickhouseRaw !== undefined) {
    try {
      const url = new URL(clickhouseRaw);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
      clickhouseUrl = clickhouseRaw;
    } catch {
      problems.push(`CLICKHOUSE_URL=${JSON.stringify(clickhouseRaw)}: must be an http(s) URL, e.g. http://127.0.0.1:8123`);
    }
  }
  const clickhouseDatabase = get('CLICKHOUSE_DATABASE') ?? 'pageviews';
  if (!DATABASE_RE.test(clickhouseDatabase)) {
    problems.push(`CLICKHOUSE_DATABASE=${JSON.stringify(clickhouseDatabase)}: use letters, digits and '_', starting with a letter or '_'`);
  }

  const embeddedLog = brokersRaw === undefined;
  const embeddedStore = clickhouseRaw === undefined;
  const allRoles = ROLE_NAMES.every((r) => roles.includes(r));
  if (!allRoles && (embeddedLog || embeddedStore)) {
    problems.push(
      `ROLES=${roles.join(',')}: running only some layers in this process needs KAFKA_BROKERS and CLICKHOUSE_URL ` +
        '(the embedded log and DuckDB file belong to one process); set both, or run all roles',
    );
  }

  const logLevel = get('LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)}: must be one of ${LOG_LEVELS.join(', ')}`);

  const batchCron = get('BATCH_CRON') ?? '0 2 * * *';
  if (!validateCron(batchCron)) problems.push(`BATCH_CRON=${JSON.stringify(batchCron)}: not a valid cron expression (e.g. '0 2 * * *')`);
  const batchTimezone = get('BATCH_TIMEZONE') ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: batchTimezone });
  } catch {
    problems.push(`BATCH_TIMEZONE=${JSON.stringify(batchTimezone)}: not a known IANA time zone (e.g. UTC, Europe/Berlin)`);
  }

  const config: PlatformConfig = {
    port,
    host,
    roles,
    kafkaBrokers,
    kafkaTopic,
    kafkaPartitions,
    clickhouseUrl,
    clickhouseDatabase,
    clickhouseUser: get('CLICKHOUSE_USER') ?? 'default',
    clickhousePassword: env['CLICKHOUSE_PASSWORD'] ?? '',
    dataDir: path.resolve(get('DATA_DIR') ?? './data'),
    generator: onOff('GENERATOR', embeddedLog),
    generatorRate: int('GENERATOR_RATE', 20, 1, 1_000_000),
    adminApiKey: get('ADMIN_API_KEY') ?? null,
    servingBoundaryCacheMs: int('SERVING_BOUNDARY_CACHE_MS', 1000, 0, 60_000),
    readApiKeys: (get('READ_API_KEYS') ?? '').split(',').map((k) => k.trim()).filter(Boolean),
    batchCron,
    batchTimezone,
    speedFlushIntervalMs: int('SPEED_FLUSH_INTERVAL_MS', 500, 50, 60_000),
    speedAllowedLatenessMs: int('SPEED_ALLOWED_LATENESS_MS', 120_000, 0, 7 * 86_400_000),
    speedMaxFutureSkewMs: int('SPEED_MAX_FUTURE_SKEW_MS', 300_000, 0, 7 * 86_400_000),
    speedMaxExactKeys: int('SPEED_MAX_EXACT_KEYS', 25_000, 0, 100_000_000),
    speedCmsEpsilon: fraction('SPEED_CMS_EPSILON', 0.01),
    speedCmsDelta: fraction('SPEED_CMS_DELTA', 0.01),
    speedHllPrecision: int('SPEED_HLL_PRECISION', 14, 4, 18),
    speedRetentionMarginMs: int('SPEED_RETENTION_MARGIN_MS', 172_800_000, 0, 365 * 86_400_000),
    logLevel,
  };
  if (config.adminApiKey !== null && config.adminApiKey.length < 16) {
    problems.push('ADMIN_API_KEY: must be at least 16 characters (use e.g. `openssl rand -hex 24`)');
  }
  if (config.readApiKeys.some((k) => k.length < 16)) {
    problems.push('READ_API_KEYS: each key must be at least 16 characters');
  }
  if (problems.length > 0) {
    throw new PlatformError('PV_CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`, { details: problems });
  }
  return config;
}
