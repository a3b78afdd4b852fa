/**
 * `npm run generate -- --rate 5000 --pages 1000 --visitors 50000 --duration 60s --seed 42`
 * Writes realistic page-view traffic to the configured log (Kafka when KAFKA_BROKERS is
 * set, else the embedded log in DATA_DIR), deterministic with --seed.
 */
import { openEventLog } from '../shared/backends.ts';
import { loadConfig } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { TrafficPump } from '../shared/traffic-pump.ts';
import { TRAFFIC_DEFAULTS } from '../shared/traffic-generator.ts';
import { duration, parseFlags, positiveInt, runCli } from './args.ts';

const USAGE = `usage: npm run generate -- [--rate N] [--pages N] [--visitors N] [--duration 60s] [--seed N] [--site ID]
  --rate      events per second (default 1000)
  --pages     distinct pages, Zipf-popular (default ${TRAFFIC_DEFAULTS.pages})
  --visitors  distinct visitors, returning (default ${TRAFFIC_DEFAULTS.visitors})
  --duration  how long: 500ms, 60s, 5m, 1h (default 10s)
  --seed      PRNG seed; the same seed gives the same events (default ${TRAFFIC_DEFAULTS.seed})
  --site      site id of the events (default ${TRAFFIC_DEFAULTS.site})`;

runCli(async () => {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      rate: { type: 'string' },
      pages: { type: 'string' },
      visitors: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      site: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (flags['help'] === true) {
    console.log(USAGE);
    return 0;
  }
  const rate = positiveInt('rate', flags['rate'], 1000, 10_000_000);
  const pages = positiveInt('pages', flags['pages'], TRAFFIC_DEFAULTS.pages, 100_000_000);
  const visitors = positiveInt('visitors', flags['visitors'], TRAFFIC_DEFAULTS.visitors, 1_000_000_000);
  const seed = positiveInt('seed', flags['seed'], TRAFFIC_DEFAULTS.seed, 2 ** 32 - 1);
  const durationMs = duration('duration', flags['duration']) ?? 10_000;
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const log = openEventLog(config, logger);
  await log.ensureTopic();
  const target = config.kafkaBrokers === null ? `embedded log in ${config.dataDir}` : `Kafka ${config.kafkaBrokers.join(',')}`;
  console.error(`generating ${rate} events/s for ${durationMs / 1000}s to topic ${config.kafkaTopic} (${target})`);
  const tty = process.stderr.isTTY;
  const pump = new TrafficPump(log, logger, {
    rate,
    pages,
    visitors,
    seed,
    durationMs,
    ...(typeof flags['site'] === 'string' ? { site: flags['site'] } : {}),
    ticksPerSecond: 10,
    onProgress: (sent, elapsedMs) => {
      if (!tty) return;
      const actual = elapsedMs > 0 ? Math.round((sent * 1000) / elapsedMs) : 0;
      process.stderr.write(`\r  sent ${sent.toLocaleString('en')} events  ${actual.toLocaleString('en')}/s  ${(elapsedMs / 1000).toFixed(1)}s `);
    },
  });
  process.once('SIGINT', () => void pump.stop());
  const sent = await pump.start();
  if (tty) process.stderr.write('\n');
  console.error(`done: ${sent} events`);
  await log.close();
  return 0;
});
