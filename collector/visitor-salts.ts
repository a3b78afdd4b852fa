/**
 * Cookieless visitor ids, as Plausible derives them: visitorId = hash(salt of the UTC day, site,
 * client IP, user agent). The salt is random, one per UTC day, kept in the view store so every
 * collector process uses the same one, and destroyed once its day is over: the same person gets
 * a new id each day, and ids of different days cannot be linked, by us or by anyone who later
 * reads the store or the log. Neither the IP nor the user agent is stored by this module.
 *
 * Agreement between processes without a transaction: each process offers a random candidate for
 * a day and takes the least salt stored for it (VisitorSaltStore). The salt of the next day is
 * created a day ahead, so at midnight every process already holds it. Only on the very first
 * start of several collectors at once can two of them briefly hold different salts for today;
 * every process re-reads its salts each `refreshIntervalMs`, which ends that within one interval.
 */
import { createHash, randomBytes } from 'node:crypto';
import { INTERVAL_MS } from '../shared/core/time-buckets.ts';
import type { VisitorSaltStore } from '../shared/adapters/view-store/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';

export interface VisitorSaltsOptions {
  /** Current time, epoch ms. @default Date.now */
  clock?: () => number;
  /** How often salts are re-read (and tomorrow's created, old ones destroyed). @default 60000 */
  refreshIntervalMs?: number;
}

export const VISITOR_SALTS_DEFAULTS = { refreshIntervalMs: 60_000 } as const;

/** The UTC day (days since the epoch) of a time. */
export const utcDay = (ms: number): number => Math.floor(ms / INTERVAL_MS.day);

/** The visitor id of a request: 32 hex digits (128 bits of SHA-256) of salt, site, IP and user agent. */
export function visitorIdFrom(salt: string, site: string, clientIp: string, userAgent: string): string {
  // Separators that cannot occur in a site id or an IP keep the fields apart.
  return createHash('sha256').update(`${salt}\u0000${site}\u0000${clientIp}\u0000${userAgent}`).digest('hex').slice(0, 32);
}

export class VisitorSalts {
  private readonly clock: () => number;
  private readonly refreshIntervalMs: number;
  /** Salts by UTC day: today's and tomorrow's. */
  private readonly salts = new Map<number, string>();
  private readonly loading = new Map<number, Promise<string>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: VisitorSaltStore,
    private readonly logger: Logger,
    options: VisitorSaltsOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.refreshIntervalMs = options.refreshIntervalMs ?? VISITOR_SALTS_DEFAULTS.refreshIntervalMs;
  }

  /** Loads today's and tomorrow's salts, then keeps them fresh every refreshIntervalMs. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) => this.logger.warn({ err }, 'visitor salts: refresh failed; keeping the salts held'));
    }, this.refreshIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Re-reads today's and tomorrow's salts (creating them when none is stored), forgets and
   * destroys the salts of earlier days.
   */
  async refresh(): Promise<void> {
    const today = utcDay(this.clock());
    for (const day of [today, today + 1]) this.salts.set(day, await this.load(day));
    for (const day of this.salts.keys()) if (day < today) this.salts.delete(day);
    await this.store.dropVisitorSaltsBefore(today);
  }

  /** The visitor id of a request received at `now`. Rejects (retriable) when the store cannot give today's salt. */
  async visitorId(now: number, site: string, clientIp: string, userAgent: string): Promise<string> {
    const day = utcDay(now);
    const salt = this.salts.get(day) ?? (await this.saltOf(day));
    return visitorIdFrom(salt, site, clientIp, userAgent);
  }

  /** The salt of a day, loaded once however many requests ask at the same time. */
  private saltOf(day: number): Promise<string> {
    const pending = this.loading.get(day);
    if (pending !== undefined) return pending;
    const load = this.load(day)
      .then((salt) => {
        if (day >= utcDay(this.clock())) this.salts.set(day, salt);
        return salt;
      })
      .finally(() => this.loading.delete(day));
    this.loading.set(day, load);
    return load;
  }

  private load(day: number): Promise<string> {
    return this.store.visitorSalt(day, randomBytes(32).toString('hex'));
  }
}
