/**
 * `npm run generate -- --rate 5000 --pages 1000 --visitors 50000 --duration 60s --seed 42`
 * Writes realistic page-view traffic, deterministic with --seed: to the configured log (Kafka
 * when KAFKA_BROKERS is set, else the embedded log in DATA_DIR), or, when `npm start` holds the
 * embedded log, through its collector (POST /api/v1/events, up to 1000 events a request).
 */
import type { LogMessage } from '../shared/adapters/event-log/index.ts';
import { openEventLog } from '../shared/runtime/backends.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { createLogger } from '../shared/runtime/logger.ts';
import { TrafficPump } from '../shared/tools/traffic-pump.ts';
import { runCli } from './args.ts';
import { GENERATE_USAGE, parseGenerateFlags } from './flags.ts';
import { openingDataDir, serverHoldingDataDir, type PlatformClient } from './running-server.ts';

/** Events per request to the collector: its limit. */
const EVENTS_PER_REQUEST = 1000;

/** The collector of a running server as the pump's log: each record's value is the event as the API takes it. */
function collectorSink(server: PlatformClient, counts: { dropped: number }): { append(messages: readonly LogMessage[]): Promise<void> } {
  return {
    async append(messages) {
      for (let i = 0; i < messages.length; i += EVENTS_PER_REQUEST) {
        const body = `[${messages
          .slice(i, i + EVENTS_PER_REQUEST)
          .map((m) => m.value.toString())
          .join(',')}]`;
        const answer = await server.request<{ accepted: number; dropped?: number }>('POST', '/api/v1/events', { body });
        counts.dropped += answer.dropped ?? 0;
      }
    },
  };
}

void runCli(async () => {
  const flags = parseGenerateFlags(process.argv.slice(2));
  if (flags.help) {
    console.log(GENERATE_USAGE);
    return 0;
  }
  const { rate, pages, visitors, seed, durationMs } = flags;
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const server = await serverHoldingDataDir(config, { embeddedLog: true });
  const counts = { dropped: 0 };
  let failure: Error | null = null;
  let sink: { append(messages: readonly LogMessage[]): Promise<void> };
  let close = (): Promise<void> => Promise.resolve();
  let target: string;
  if (server !== null) {
    const collector = collectorSink(server, counts);
    // The pump retries a failed append; a refusal of the server (a 400, a wrong key) or a server
    // gone would fail every time: stop at the first, and say it (the pump's count is then moot).
    sink = {
      append: (messages) =>
        collector.append(messages).catch((err: unknown) => {
          failure ??= err instanceof Error ? err : new Error(String(err));
          void pump.stop();
        }),
    };
    target = `npm start (pid ${server.server.pid}) at ${server.url}, which holds the embedded log in ${config.dataDir}: POST /api/v1/events`;
  } else {
    const log = openEventLog(config, logger);
    await openingDataDir(config, () => log.ensureTopic());
    sink = log;
    close = () => log.close();
    target = config.kafkaBrokers === null ? `embedded log in ${config.dataDir}` : `Kafka ${config.kafkaBrokers.join(',')}`;
  }
  console.error(`generating ${rate} events/s for ${durationMs / 1000}s to topic ${config.kafkaTopic} (${target})`);
  const tty = process.stderr.isTTY;
  const pump: TrafficPump = new TrafficPump(sink, logger, {
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
  await close();
  if (failure !== null) throw failure;
  console.error(`done: ${sent} events${counts.dropped > 0 ? ` (${counts.dropped} dropped by the collector as bots)` : ''}`);
  return 0;
});
