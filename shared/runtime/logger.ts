import { pino, type Logger } from 'pino';

export type { Logger };

/** The one root logger factory. Modules take a Logger and call `.child({ module })`. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({ name: options.name ?? 'pageviews', level: options.level ?? 'info' });
}

/** A logger that discards everything (tests, library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });
