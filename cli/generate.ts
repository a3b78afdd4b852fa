/**
 * `npm run generate -- --rate 5000 --pages 1000 --visitors 50000 --duration 60s --seed 42`
 * Writes realistic page-view traffic to the configured log (Kafka when KAFKA_BROKERS is
 * set, else the embedded log in DATA_DIR), deterministic with --seed.
 */
import { openEventLog } from '../shared/runtime/backends.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { createLogger } from '../shared/runtime/logger.ts';
import { TrafficPump } from '../shared/tools/traffic-pump.ts';
import { runCli } from './args.ts';
import { GENERATE_USAGE, parseGenerateFlags } from './flags.ts';

void runCli(async () => {
  const flags = parseGenerateFlags(process.argv.slice(2));
  if (flags.help) {
    console.log(GENERATE_USAGE);
    return 0;
  }
  const { rate, pages, visitors, seed, durationMs } = flags;
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
    visitFields: true,
    ...(flags.site === undefined ? {} : { site: flags.site }),
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
