/**
 * TrafficPump: appends generated page views to an event log at a steady rate, in batches
 * (one append per tick), with event time = the time of appending.
 */
import { encodePageView, pageViewKey } from '../core/page-view.ts';
import type { EventLog } from '../adapters/event-log/index.ts';
import type { Logger } from '../runtime/logger.ts';
import { TrafficGenerator, type TrafficOptions } from './traffic-generator.ts';

export interface TrafficPumpOptions extends TrafficOptions {
  /** Events per second. */
  rate: number;
  /** Stop after this long (ms). @default run until stop() */
  durationMs?: number;
  /**
   * Appends per second. @default rate / 20, from 1 to 10: a light pump appends batches of about
   * twenty events once a second (each append is a durable write), a busy one ten times a second.
   */
  ticksPerSecond?: number;
  onProgress?(sent: number, elapsedMs: number): void;
}

export class TrafficPump {
  private readonly generator: TrafficGenerator;
  private stopped = false;
  private sent = 0;
  private done: Promise<number> | null = null;

  constructor(
    private readonly log: Pick<EventLog, 'append'>,
    private readonly logger: Logger,
    private readonly options: TrafficPumpOptions,
  ) {
    if (!(options.rate > 0)) throw new RangeError(`rate must be > 0, got ${options.rate}`);
    this.generator = new TrafficGenerator(options);
  }

  get eventsSent(): number {
    return this.sent;
  }

  /** Starts pumping; the promise resolves with the number of events sent when it ends. */
  start(): Promise<number> {
    this.done ??= this.run();
    return this.done;
  }

  private async run(): Promise<number> {
    const ticksPerSecond = this.options.ticksPerSecond ?? Math.min(10, Math.max(1, Math.round(this.options.rate / 20)));
    const tickMs = 1000 / ticksPerSecond;
    const started = Date.now();
    let failures = 0;
    while (!this.stopped) {
      const elapsed = Date.now() - started;
      if (this.options.durationMs !== undefined && elapsed >= this.options.durationMs) break;
      // Catch up to the target count for the elapsed time (bounded to one second's worth per tick).
      const target = Math.floor(((elapsed + tickMs) / 1000) * this.options.rate);
      const due = Math.min(target - this.sent, Math.ceil(this.options.rate));
      if (due > 0) {
        const now = Date.now();
        const messages = Array.from({ length: due }, () => {
          const event = this.generator.next(now);
          return { key: pageViewKey(event), value: encodePageView(event) };
        });
        try {
          await this.log.append(messages);
          this.sent += due;
          failures = 0;
        } catch (err) {
          failures += 1;
          if (failures === 1 || failures % 50 === 0) this.logger.warn({ err }, 'traffic generator could not append; retrying');
        }
        this.options.onProgress?.(this.sent, Date.now() - started);
      }
      const next = started + (Math.floor((Date.now() - started) / tickMs) + 1) * tickMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
    }
    return this.sent;
  }

  async stop(): Promise<number> {
    this.stopped = true;
    return this.done ?? 0;
  }
}
