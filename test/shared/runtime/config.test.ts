import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/runtime/config.ts';
import { isPlatformError } from '../../../shared/core/errors.ts';

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
    [{ CLICKHOUSE_DATABASE: 'a-b;drop' }, 'CLICKHOUSE_DATABASE="a-b;drop": use letters, digits and \'_\', starting with a letter or \'_\''],
    [{ GENERATOR: 'maybe' }, 'GENERATOR="maybe": must be on or off'],
    [{ ROLES: 'speed,oops' }, 'ROLES contains "oops": each role must be one of speed, batch, serving'],
    [{ BATCH_CRON: 'every night' }, 'BATCH_CRON="every night": not a valid cron expression (e.g. \'0 2 * * *\')'],
    [{ BATCH_TIMEZONE: 'Mars/Base' }, 'BATCH_TIMEZONE="Mars/Base": not a known IANA time zone (e.g. UTC, Europe/Berlin)'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY: must be at least 16 characters (use e.g. `openssl rand -hex 24`)'],
    [{ SPEED_CMS_EPSILON: '2' }, 'SPEED_CMS_EPSILON="2": must be a number between 0 and 1, e.g. 0.01'],
    [{ SPEED_HLL_PRECISION: '20' }, 'SPEED_HLL_PRECISION="20": must be a whole number from 4 to 18'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent'],
  ])('names the variable and the fix: %j', (env, message) => {
    expect(problems(env)).toContain(message);
  });

  it('refuses a single role on embedded backends, which belong to one process', () => {
    expect(problems({ ROLES: 'speed' })[0]).toMatch(/^ROLES=speed: running only some layers in this process needs KAFKA_BROKERS and CLICKHOUSE_URL/);
    expect(problems({ ROLES: 'speed', KAFKA_BROKERS: 'k:9092', CLICKHOUSE_URL: 'http://c:8123' })).toEqual([]);
  });

  it('reports all problems in one error', () => {
    expect(problems({ PORT: 'x', GENERATOR: 'y' })).toHaveLength(2);
  });
});
