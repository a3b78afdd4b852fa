/**
 * The environment variables the platform reads, declared once (ENVIRONMENT_VARIABLES).
 * Each entry names the PlatformConfig field it sets, the kind of value it takes (a zod
 * schema whose messages say what is allowed), its default and its description. From this
 * one table come:
 *  - the validation of `loadConfig` and the `PlatformConfig` type (config.ts);
 *  - the defaults and ranges of the options a variable also sets: speed-layer/options.ts
 *    (SPEED_LAYER_DEFAULTS, SPEED_LAYER_LIMITS) and batch-layer/batch-scheduler.ts
 *    (BATCH_SCHEDULER_DEFAULTS) read them from here; where a default belongs to an adapter
 *    (partitions, ClickHouse user and password), the table reads the adapter's constant;
 *  - README's environment table (scripts/env-table.ts, `npm run docs:env`; checked by
 *    test/docs/readme.test.ts).
 */
import path from 'node:path';
import { isIP } from 'node:net';
import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { HLL_BATCH_PRECISION } from '../core/sketches/index.ts';
import { EMBEDDED_EVENT_LOG_DEFAULTS } from '../adapters/event-log/index.ts';
import { CLICKHOUSE_STORE_DEFAULTS } from '../adapters/view-store/index.ts';

// ---------------------------------------------------------------------------------------
// Kinds of values.

/** A kind of value: how a variable's text is parsed, what is allowed, how README shows a value. */
export interface ValueKind<T> {
  /** Parses a variable's text (trimmed, not empty). Every issue's message says what is allowed. */
  readonly text: z.ZodType<T>;
  /**
   * Every rule the parser checks, for README's "Allowed:" ("a whole number from 4 to 18"); "any text"
   * where nothing is checked. Required, so a new kind cannot leave a rule unstated.
   */
  readonly allowed: string;
  /** How README shows a value of this kind (the default). */
  readonly show: (value: T) => string;
}

/** A number kind also checks a number given in code (a component option), with the same range and message. */
export interface NumberKind extends ValueKind<number> {
  readonly schema: z.ZodType<number>;
}

/** A kind, whatever its value. */
export type AnyKind = ValueKind<any>;
export type KindValue<K> = K extends ValueKind<infer T> ? T : never;

/** A whole number from min to max (inclusive); `message` replaces the default "must be a whole number from …". */
export function wholeNumber(min: number, max = Number.POSITIVE_INFINITY, message?: string): NumberKind {
  const error = message ?? (Number.isFinite(max) ? `must be a whole number from ${min} to ${max}` : `must be a whole number of at least ${min}`);
  const schema = z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
  return {
    schema,
    text: z.string().regex(/^\d+$/, { error }).transform(Number).pipe(schema),
    allowed: min === max ? String(min) : Number.isFinite(max) ? `a whole number from ${min} to ${max}` : `a whole number of at least ${min}`,
    show: String,
  };
}

const DURATION_UNITS: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];

/** 172800000 → "2 d"; null when no unit of a second or more divides it. */
function duration(ms: number): string | null {
  const unit = DURATION_UNITS.find(([size]) => ms >= size && ms % size === 0);
  return unit === undefined ? null : `${ms / unit[0]} ${unit[1]}`;
}

/** A whole number of milliseconds; README adds the duration in words ("120000 (2 min)"). */
export function milliseconds(min: number, max = Number.POSITIVE_INFINITY): NumberKind {
  const kind = wholeNumber(min, max);
  const inWords = (ms: number): string => {
    const words = duration(ms);
    return words === null ? String(ms) : `${ms} (${words})`;
  };
  const maxInWords = duration(max);
  return {
    ...kind,
    allowed: Number.isFinite(max)
      ? `a whole number from ${min} to ${max} (ms${maxInWords === null ? '' : `, up to ${maxInWords}`})`
      : `a whole number of at least ${min} (ms)`,
    show: inWords,
  };
}

/** A number strictly between 0 and 1, written as a decimal fraction (0.01). */
export function fraction(): NumberKind {
  const error = 'must be a number between 0 and 1, e.g. 0.01';
  const schema = z.number({ error }).gt(0, { error }).lt(1, { error });
  return {
    schema,
    text: z.string().regex(/^0?\.\d+$/, { error }).transform(Number).pipe(schema),
    allowed: 'a number between 0 and 1 (exclusive; a decimal fraction such as 0.01)',
    show: String,
  };
}

/** A decimal number from `min` to `max` (0.5, 20). */
export function decimal(min: number, max: number): NumberKind {
  const error = `must be a number from ${min} to ${max}, e.g. 0.5`;
  const schema = z.number({ error }).min(min, { error }).max(max, { error });
  return {
    schema,
    text: z.string().regex(/^(\d+(\.\d*)?|\.\d+)$/, { error }).transform(Number).pipe(schema),
    allowed: `a number from ${min} to ${max} (digits with an optional decimal point, e.g. 0.5)`,
    show: String,
  };
}

const ON = ['on', 'true', '1', 'yes'] as const;
const OFF = ['off', 'false', '0', 'no'] as const;

/** on/off (also true/false, yes/no, 1/0, in any case). */
export function onOff(): ValueKind<boolean> {
  return {
    text: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.enum([...ON, ...OFF], { error: 'must be on or off' }))
      .transform((s) => (ON as readonly string[]).includes(s)),
    allowed: 'on or off (also true/false, yes/no, 1/0, in any case)',
    show: (on) => (on ? 'on' : 'off'),
  };
}

/** One of a fixed list of words. */
export function oneOf<const V extends readonly [string, ...string[]]>(values: V): ValueKind<V[number]> {
  return {
    text: z.enum(values, { error: `must be one of ${values.join(', ')}` }),
    allowed: `one of ${values.join(', ')}`,
    show: String,
  };
}

/** Text checked by `schema`, `allowed` saying what it checks ("any text" for z.string()); README shows '' as "(empty)". */
export function text(schema: z.ZodType<string>, allowed: string): ValueKind<string> {
  return { text: schema, allowed, show: (s) => (s === '' ? '(empty)' : s) };
}

/** The comma-separated items of a text, trimmed, empty ones dropped. */
function commaSeparated(s: string): string[] {
  return s.split(',').map((part) => part.trim()).filter(Boolean);
}

// ---------------------------------------------------------------------------------------
// The declaration.

/** What a computed default may look at: whether another declared variable is set. */
export interface DefaultContext {
  isSet(name: string): boolean;
}

export interface Variable<F extends string, K extends AnyKind, D> {
  /** The PlatformConfig field it sets. */
  readonly field: F;
  readonly kind: K;
  /** The value when the variable is unset or blank; a function computes it from other variables. */
  readonly default: D;
  /** README's Default column. */
  readonly shown: string;
  readonly description: string;
  /** Messages never repeat the value (keys, tokens). */
  readonly secret: boolean;
  /** The value is used as given, surrounding spaces included (a password). */
  readonly keepWhitespace: boolean;
}

export type AnyVariable = Variable<string, AnyKind, unknown>;

interface VariableSpec {
  description: string;
  secret?: true;
  keepWhitespace?: true;
}

function variable<const F extends string, K extends AnyKind>(
  field: F,
  kind: K,
  spec: VariableSpec & { default: NoInfer<KindValue<K>>; shown?: string },
): Variable<F, K, KindValue<K>>;
function variable<const F extends string, K extends AnyKind>(
  field: F,
  kind: K,
  spec: VariableSpec & { default: null; shown: string },
): Variable<F, K, null>;
function variable<const F extends string, K extends AnyKind>(
  field: F,
  kind: K,
  spec: VariableSpec & { default: (context: DefaultContext) => NoInfer<KindValue<K>>; shown: string },
): Variable<F, K, (context: DefaultContext) => KindValue<K>>;
function variable(field: string, kind: AnyKind, spec: VariableSpec & { default: unknown; shown?: string }): Variable<string, AnyKind, unknown> {
  return {
    field,
    kind,
    default: spec.default,
    shown: spec.shown ?? kind.show(spec.default),
    description: spec.description,
    secret: spec.secret ?? false,
    keepWhitespace: spec.keepWhitespace ?? false,
  };
}

export const ROLE_NAMES = ['speed', 'batch', 'serving'] as const;
export type Role = (typeof ROLE_NAMES)[number];

const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
const TOPIC_RULE = "at most 249 letters, digits, '.', '_' or '-'";
const DATABASE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const DATABASE_RULE = "at most 64 letters, digits and '_', starting with a letter or '_'";
const BROKER_RE = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const ALLOWED_ORIGINS_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\s*=\s*https?:\/\/[^\s;=]+(\s+https?:\/\/[^\s;=]+)*$/;
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
/** An address, a subnet (address/prefix) or one of Express's names for subnets. */
function isProxyAddress(s: string): boolean {
  if (PROXY_NAMES.includes(s)) return true;
  const [address = '', prefix, ...rest] = s.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}
const BROKERS_ERROR = 'must be host:port[,host:port...], e.g. 127.0.0.1:9092';
const DAY = 86_400_000;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Every variable the platform reads, in README's order. */
export const ENVIRONMENT_VARIABLES = {
  PORT: variable('port', wholeNumber(0, 65535), {
    default: 3000,
    description: 'HTTP port of the serving layer (REST API and collector).',
  }),
  HOST: variable('host', text(z.string(), 'any text (an address or host name, not checked until the server binds to it)'), {
    default: '127.0.0.1',
    description: 'Interface the HTTP server binds to (0.0.0.0 in containers).',
  }),
  ROLES: variable(
    'roles',
    {
      text: z
        .string()
        .transform(commaSeparated)
        .pipe(
          z
            .array(z.enum(ROLE_NAMES, { error: `each role must be one of ${ROLE_NAMES.join(', ')}` }))
            .min(1, { error: `name at least one of ${ROLE_NAMES.join(', ')}` }),
        )
        .transform((roles) => [...new Set(roles)]),
      allowed: `one or more of ${ROLE_NAMES.join(', ')}, comma-separated; fewer than all of them need KAFKA_BROKERS and CLICKHOUSE_URL`,
      show: (roles: Role[]) => roles.join(','),
    },
    { default: [...ROLE_NAMES], description: `Layers this process runs, comma-separated: ${ROLE_NAMES.join(', ')}.` },
  ),
  KAFKA_BROKERS: variable(
    'kafkaBrokers',
    {
      text: z
        .string()
        .refine((s) => commaSeparated(s).length > 0 && commaSeparated(s).every((b) => BROKER_RE.test(b)), { error: BROKERS_ERROR })
        .transform(commaSeparated),
      allowed: "host:port[,host:port...], the host of letters, digits, '.' and '-', the port of 1 to 5 digits",
      show: (brokers: string[]) => brokers.join(','),
    },
    {
      default: null,
      shown: '(unset: embedded log)',
      description: 'Comma-separated Kafka brokers, e.g. 127.0.0.1:9092. Unset: the embedded log in DATA_DIR.',
    },
  ),
  KAFKA_TOPIC: variable('kafkaTopic', text(z.string().regex(TOPIC_RE, { error: `must be ${TOPIC_RULE}` }), TOPIC_RULE), {
    default: 'page-views',
    description: 'The page-view topic (the master dataset).',
  }),
  KAFKA_PARTITIONS: variable('kafkaPartitions', wholeNumber(1, 1024), {
    default: EMBEDDED_EVENT_LOG_DEFAULTS.partitions,
    description: 'Partitions of the topic when the platform creates it.',
  }),
  CLICKHOUSE_URL: variable(
    'clickhouseUrl',
    text(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://127.0.0.1:8123' }), 'an http(s) URL'),
    {
      default: null,
      shown: '(unset: embedded DuckDB)',
      description: 'ClickHouse HTTP URL, e.g. http://127.0.0.1:8123. Unset: DuckDB in DATA_DIR.',
    },
  ),
  CLICKHOUSE_DATABASE: variable(
    'clickhouseDatabase',
    text(z.string().regex(DATABASE_RE, { error: `must be ${DATABASE_RULE}` }), DATABASE_RULE),
    { default: 'pageviews', description: 'ClickHouse database; created when missing.' },
  ),
  CLICKHOUSE_USER: variable('clickhouseUser', text(z.string(), 'any text'), {
    default: CLICKHOUSE_STORE_DEFAULTS.username,
    description: 'ClickHouse user.',
  }),
  CLICKHOUSE_PASSWORD: variable('clickhousePassword', text(z.string(), 'any text, surrounding spaces kept'), {
    default: CLICKHOUSE_STORE_DEFAULTS.password,
    description: 'ClickHouse password.',
    secret: true,
    keepWhitespace: true,
  }),
  CLICKHOUSE_REQUEST_TIMEOUT_MS: variable('clickhouseRequestTimeoutMs', milliseconds(100, 600_000), {
    default: CLICKHOUSE_STORE_DEFAULTS.requestTimeoutMs,
    description:
      'Deadline of each ClickHouse read (ms): past it, the read answers 503 with Retry-After. ' +
      `Writes and the batch build have their own, longer one (${CLICKHOUSE_STORE_DEFAULTS.bulkRequestTimeoutMs / 60_000} min).`,
  }),
  DATA_DIR: variable('dataDir', text(z.string().transform((dir) => path.resolve(dir)), 'any text (a path; a relative one is from the working directory)'), {
    default: () => path.resolve('data'),
    shown: './data',
    description: 'Folder for the embedded log and the DuckDB file.',
  }),
  GENERATOR: variable('generator', onOff(), {
    default: ({ isSet }) => !isSet('KAFKA_BROKERS'),
    shown: 'on (embedded), off (Kafka)',
    description: 'Built-in traffic generator.',
  }),
  GENERATOR_RATE: variable('generatorRate', decimal(0.01, 1_000_000), {
    // A small site's traffic, at the first-run history's volume (GENERATOR_HISTORY_EVENTS_PER_DAY):
    // the dashboard's series goes on from the history at the same height instead of jumping.
    default: 0.1,
    description: 'Events per second of the built-in generator (0.1: 8,640 a day, a small site; raise it to load the platform).',
  }),
  GENERATOR_HISTORY_DAYS: variable('generatorHistoryDays', wholeNumber(0, 60), {
    default: 7,
    description:
      'First run only (an empty DATA_DIR, embedded log, GENERATOR on): days of generated history back-filled before the start of the current UTC hour, ' +
      'then covered by one batch run before the server listens, so the first dashboard shows exact numbers and the boundary. 0: no back-fill.',
  }),
  GENERATOR_HISTORY_EVENTS_PER_DAY: variable('generatorHistoryEventsPerDay', wholeNumber(1, 100_000), {
    default: 9000,
    description:
      'Page views per day of the first-run history (GENERATOR_HISTORY_DAYS), on average: fewer at night and at weekends, most in the UTC afternoon. ' +
      'The default is about the live generator\'s day at its default rate.',
  }),
  ADMIN_API_KEY: variable('adminApiKey', text(z.string().min(16, { error: 'must be at least 16 characters (use e.g. `openssl rand -hex 24`)' }), 'at least 16 characters'), {
    default: null,
    shown: '(unset: admin routes disabled)',
    description: 'Bearer token required by admin routes (e.g. triggering a batch run).',
    secret: true,
  }),
  SERVING_REFRESH_INTERVAL_MS: variable('servingRefreshIntervalMs', milliseconds(10, 60_000), {
    // Embedded, the speed layer runs in the same process and hands off after each flush: the
    // timer only catches what else changed (a batch publish) and keeps idle cost low.
    default: ({ isSet }) => (isSet('CLICKHOUSE_URL') ? 100 : 2000),
    shown: '100 with ClickHouse; 2000 embedded (refreshed after every speed flush too)',
    description:
      'How often the serving layer reads what changed in the view store (the boundary, speed checkpoints and their new rows) into the views it holds in memory (ms).',
  }),
  SERVING_MAX_STALENESS_MS: variable('servingMaxStalenessMs', milliseconds(100, 3_600_000), {
    default: 10_000,
    description:
      'When the serving layer\'s last successful refresh is older than this (ms), it is behind: reads go to the view store and /api/v1/ready answers 503 until it catches up.',
  }),
  SERVING_MEMORY_BUDGET_MB: variable('servingMemoryBudgetMb', wholeNumber(0, 1_048_576), {
    default: 256,
    description:
      'Memory budget (MiB, estimated) of the views the serving layer holds: the speed views and the published batch views of the pages queried (least recently used pages leave first; reads beyond it go to the store).',
  }),
  SERVING_BATCH_HOURS_DAYS: variable('servingBatchHoursDays', wholeNumber(0, 400), {
    default: 7,
    description:
      'Days before the batch boundary whose hourly batch views the serving layer holds per page (days are held for the whole history); hourly reads further back go to the store.',
  }),
  SERVING_CACHE_BUDGET_MB: variable('servingCacheBudgetMb', wholeNumber(0, 65_536), {
    default: 64,
    description:
      'Memory budget (MiB, estimated) of the serving layer\'s cache of the batch reads its views do not hold (visitor unions, page totals of a range); least recently used reads are dropped beyond it. 0 keeps none.',
  }),
  SERVING_REQUEST_TIMEOUT_MS: variable('servingRequestTimeoutMs', milliseconds(100, 600_000), {
    default: 10_000,
    description: 'A read request still running after this long (ms) answers 503 with Retry-After instead of holding the connection.',
  }),
  READ_API_KEYS: variable(
    'readApiKeys',
    {
      text: z.string().transform(commaSeparated).pipe(z.array(z.string().min(16, { error: 'each key must be at least 16 characters' }))),
      allowed: 'comma-separated keys, each at least 16 characters',
      show: (keys: string[]) => keys.join(','),
    },
    {
      default: [],
      shown: '(unset: read API open)',
      description: 'Comma-separated bearer tokens; when set, the read API (stats, pages, realtime with its stream, sites, boundary, runs, compare) requires one.',
      secret: true,
    },
  ),
  TRUST_PROXY: variable(
    'trustProxy',
    {
      text: z
        .string()
        .transform((s): false | number | string[] => {
          const lower = s.trim().toLowerCase();
          if ((OFF as readonly string[]).includes(lower)) return false;
          if (/^\d+$/.test(lower)) return Number(lower);
          return commaSeparated(s);
        })
        .refine((v) => v === false || typeof v === 'number' || v.every(isProxyAddress), {
          error: "must be off, a number of proxy hops, or comma-separated addresses or subnets (e.g. 10.0.0.0/8, loopback)",
        }),
      allowed: 'off, a number of proxy hops, or comma-separated addresses or subnets (loopback, linklocal, uniquelocal, 10.0.0.0/8, …); also false, no, 0 for off',
      show: (v: false | number | string[]) => (v === false ? 'off' : String(v)),
    },
    {
      default: false,
      description:
        "Which proxies' X-Forwarded-For gives the client IP of ingestion requests (visitor ids, country, rate limit). " +
        'Off: the socket address. Behind a load balancer, name it (addresses or subnets) or give the number of hops.',
    },
  ),
  INGEST_RATE_LIMIT: variable('ingestRateLimit', wholeNumber(0, 1_000_000_000), {
    default: 1200,
    description: 'Requests per minute per client IP on POST /api/event (browsers; 429 with Retry-After beyond); 0 turns it off. Per collector process.',
  }),
  INGEST_SERVER_RATE_LIMIT: variable('ingestServerRateLimit', wholeNumber(0, 1_000_000_000), {
    default: 60_000,
    description: 'Requests per minute per client IP on POST /api/v1/events (servers, up to 1000 events per request; 429 with Retry-After beyond); 0 turns it off. Per collector process.',
  }),
  INGEST_ALLOWED_ORIGINS: variable(
    'ingestAllowedOrigins',
    {
      text: z
        .string()
        .transform((s) => s.split(';').map((part) => part.trim()).filter(Boolean))
        .pipe(z.array(z.string().regex(ALLOWED_ORIGINS_RE, { error: 'each entry must be site=origin[ origin…], e.g. shop.example=https://shop.example https://www.shop.example' })))
        .transform((entries) => new Map(entries.map((e) => { const [site = '', origins = ''] = e.split('='); return [site.trim(), origins.trim().split(/\s+/)] as [string, string[]]; }))),
      allowed: 'site=origin[ origin…] entries separated by ";", each origin an http(s):// URL',
      show: (m: ReadonlyMap<string, readonly string[]>) => [...m].map(([site, origins]) => `${site}=${origins.join(' ')}`).join(';'),
    },
    {
      default: new Map<string, string[]>(),
      shown: '(unset: any origin)',
      description: 'Per site, the only origins whose browsers may send its events (403 for others), e.g. `shop.example=https://shop.example https://www.shop.example;blog.example=https://blog.example`. Sites not listed accept any origin.',
    },
  ),
  GEOIP: variable('geoip', onOff(), {
    default: true,
    description: "Country of browser events from the client IP, with fast-geoip's bundled database (read from disk as needed). The IP itself is never stored.",
  }),
  BATCH_CRON: variable(
    'batchCron',
    text(z.string().refine((s) => validateCron(s), { error: "not a valid cron expression (e.g. '0 2 * * *')" }), 'a valid cron expression: 5 fields, or 6 with seconds first'),
    {
    default: '0 2 * * *',
    description: 'When the batch layer recomputes (cron syntax; 6 fields for seconds).',
    },
  ),
  BATCH_TIMEZONE: variable('batchTimezone', text(z.string().refine(isTimeZone, { error: 'not a known IANA time zone (e.g. UTC, Europe/Berlin)' }), 'a known IANA time zone'), {
    default: 'UTC',
    description: 'Time zone of BATCH_CRON.',
  }),
  SPEED_FLUSH_INTERVAL_MS: variable('speedFlushIntervalMs', milliseconds(10, 60_000), {
    default: 500,
    description: 'How often the speed layer writes its views and checkpoints (ms).',
  }),
  SPEED_FLUSH_IDLE_INTERVAL_MS: variable('speedFlushIdleIntervalMs', milliseconds(10, 60_000), {
    default: 1000,
    description:
      'Longest flush interval (ms): with little traffic the interval doubles after each flush up to this; ' +
      'it drops back to SPEED_FLUSH_INTERVAL_MS as soon as traffic picks up. It bounds how long a new event takes to reach ' +
      'the realtime numbers (the dashboard\'s live counter: within 2 s) when traffic is light.',
  }),
  SPEED_SKETCH_INTERVAL_MS: variable('speedSketchIntervalMs', milliseconds(0, 60_000), {
    default: 5000,
    description:
      'How often the speed layer writes the visitor sketches of pages (ms); page views, site visitors and checkpoints ' +
      'are written every flush. Dense sketches are about 22 KB each: this bounds their write volume. After a restart ' +
      'the log is replayed from the last write of them (visitors only, which is idempotent). 0 writes them every flush.',
  }),
  SPEED_HOT_WINDOW_MS: variable('speedHotWindowMs', milliseconds(0, 7 * DAY), {
    default: 10 * 60_000,
    description:
      'Minute buckets younger than this (wall clock) stay in the speed layer\'s memory. An event for an older minute ' +
      '(after the batch boundary) is still counted at the next flush, in the late lane, and merged into its stored rows in the background.',
  }),
  SPEED_MEMORY_BUDGET_MB: variable('speedMemoryBudgetMb', wholeNumber(1, 1_048_576), {
    default: 256,
    description:
      'Memory budget (MiB, estimated) of the speed layer\'s state in one process; beyond it, new pages of a minute go to ' +
      'its Count-Min and top-pages sketches, as beyond SPEED_MAX_EXACT_KEYS.',
  }),
  SPEED_MAX_FUTURE_SKEW_MS: variable('speedMaxFutureSkewMs', milliseconds(0, 7 * DAY), {
    default: 300_000,
    description: 'Events further ahead of the clock (ms) go to the dead-letter topic.',
  }),
  SPEED_MAX_EXACT_KEYS: variable('speedMaxExactKeys', wholeNumber(0, 100_000_000), {
    default: 25_000,
    description: 'Exact page-minute counters per partition, and as many exact dimension-value counters (visit:source, …); beyond them, Count-Min and top-K sketches.',
  }),
  SPEED_CMS_EPSILON: variable('speedCmsEpsilon', fraction(), {
    default: 0.01,
    description: "Count-Min ε: a page estimate overcounts by at most ε × the minute's overflow events.",
  }),
  SPEED_CMS_DELTA: variable('speedCmsDelta', fraction(), {
    default: 0.01,
    description: 'Count-Min δ: the overcount bound holds with probability 1 − δ.',
  }),
  SPEED_HLL_PRECISION: variable(
    'speedHllPrecision',
    wholeNumber(
      HLL_BATCH_PRECISION,
      HLL_BATCH_PRECISION,
      `must be ${HLL_BATCH_PRECISION} (the batch layer's precision; visitor unions across the boundary need equal precisions)`,
    ),
    {
      default: HLL_BATCH_PRECISION,
      description:
        `HyperLogLog precision p (standard error 1.04 / √(2^p): ${(104 / Math.sqrt(2 ** HLL_BATCH_PRECISION)).toFixed(2)}% at the default). ` +
        "It must equal the batch layer's precision, so visitor counts can straddle the batch boundary.",
    },
  ),
  SPEED_RETENTION_MARGIN_MS: variable('speedRetentionMarginMs', milliseconds(0, 365 * DAY), {
    default: 2 * DAY,
    description: 'Speed buckets are kept from the batch boundary minus this margin (ms).',
  }),
  LOG_LEVEL: variable('logLevel', oneOf(LOG_LEVELS), {
    default: 'info',
    description: 'pino log level.',
  }),
};

export type EnvironmentVariableName = keyof typeof ENVIRONMENT_VARIABLES;

/** Variables that no longer exist, with what replaced them: setting one is a start-up error, never silently ignored. */
export const REMOVED_VARIABLES: Readonly<Record<string, string>> = {
  SERVING_BOUNDARY_CACHE_MS:
    'was removed: the serving layer holds the boundary with its views and refreshes both every SERVING_REFRESH_INTERVAL_MS',
  SPEED_ALLOWED_LATENESS_MS:
    'was removed: the speed layer now counts late events whatever their lateness (after the batch boundary); ' +
    'SPEED_HOT_WINDOW_MS sets how long minutes stay in memory. Unset it',
};
