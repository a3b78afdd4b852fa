/**
 * The realtime feed behind GET /api/v1/realtime/stream: per site, visitors and page views in
 * the realtime window (the query module's `realtimeWindow`), pushed to every subscriber of the
 * site when they change.
 *
 * - One computation per site per change, fanned out to all the site's subscribers: a change is
 *   a new version of the serving views (ServingViews.onChange, after a refresh or a speed
 *   flush's hand-off) or the window moving on at a minute edge (old minutes leave it).
 * - At most one computation per site every `throttleMs`; changes meanwhile are folded into one
 *   computation after it.
 * - A message goes out only when the numbers differ from the last one sent; a new subscriber
 *   gets the current numbers at once (the last ones computed, or the first computation's).
 * - A failed computation is tried again at the next change, or after `retryMs` (doubled per
 *   failure in a row, up to 10 s), whichever comes first.
 * - A keep-alive every `keepAliveMs`, so proxies keep the connection.
 * - Views that are not refreshed on their own (`pollMs`: the router's views refreshed per read)
 *   are refreshed on a timer while anybody listens.
 * - Nothing runs while nobody listens: the listener, the timers and a site's state are made
 *   for its first subscriber and dropped with its last.
 * - At most `maxSubscribers` subscribers at a time; beyond, `subscribe` throws a 503.
 */
import type { Logger } from '../shared/runtime/logger.ts';
import { ApiError } from '../shared/runtime/http/api-error.ts';
import { INTERVAL_MS, bucketCeil } from '../shared/core/time-buckets.ts';
import { REALTIME_WINDOW_MS, queryPageViews, queryRealtimeVisitors, realtimeWindow, type QueryStore } from '../shared/core/query/index.ts';
import { isoTime } from './iso-time.ts';

/** The realtime numbers of a site at one moment: the data of an `event: realtime` message. */
export interface RealtimeMessage {
  site: string;
  /** When they were computed. */
  at: string;
  /** The minutes counted: `from` is the minute REALTIME_WINDOW_MS before `at`, `to` the end of `at`'s minute. */
  from: string;
  to: string;
  windowMs: number;
  /** Distinct visitors (the speed layer's HyperLogLog): always approximate. */
  visitors: { value: number; exact: false; relativeStandardError: number };
  /** Page views, as the aggregate route gives them: exact before the batch boundary, else with the Count-Min bound. */
  pageviews: { value: number; exact: boolean; overcountBound: number; partial?: { reason: string; missingFrom: string; missingTo: string } };
  /** The serving views' version the numbers were computed at. */
  version: string;
}

/** Visitors and page views of `site` in the realtime window at `now`, through the query module. */
export async function realtimeNumbers(store: QueryStore & { readonly version: string }, site: string, now: number): Promise<RealtimeMessage> {
  const version = store.version;
  const { from, to } = realtimeWindow(now);
  // Minute buckets exist only from the batch boundary on: when a run's cutoff falls inside the
  // window (a run asked for just after an hour began, or a first run), the page views count
  // from the boundary, and the answer says which minutes it left out (the batch views hold them
  // by the hour only).
  const boundary = await store.latestBoundary();
  const pageViewsFrom = boundary !== null && boundary.cutoffTime > from ? Math.min(bucketCeil(boundary.cutoffTime, 'minute'), to) : from;
  const [visitors, views] = await Promise.all([
    queryRealtimeVisitors(store, site, now),
    queryPageViews(store, { site, from: pageViewsFrom, to, interval: 'minute' }),
  ]);
  const partial =
    views.partial ??
    (pageViewsFrom > from
      ? { reason: 'the batch boundary is inside the window: its minutes before the boundary are in the batch views by the hour only, and are not counted here', missingFrom: from, missingTo: pageViewsFrom }
      : null);
  return {
    site,
    at: isoTime(now),
    from: isoTime(from),
    to: isoTime(to),
    windowMs: REALTIME_WINDOW_MS,
    visitors: { value: visitors.value, exact: false, relativeStandardError: visitors.relativeStandardError },
    pageviews: {
      value: views.total.views,
      exact: views.total.exact,
      overcountBound: views.total.overcountBound,
      ...(partial === null ? {} : { partial: { reason: partial.reason, missingFrom: isoTime(partial.missingFrom), missingTo: isoTime(partial.missingTo) } }),
    },
    version,
  };
}

/** The numbers of a message, without when and at which version: equal numbers are not sent again. */
const numbersOf = (m: RealtimeMessage): string => JSON.stringify([m.visitors, m.pageviews]);

export interface RealtimeSubscriber {
  message(message: RealtimeMessage): void;
  keepAlive(): void;
}

/** What the feed watches: the serving views. */
export interface RealtimeViews {
  onChange(listener: () => void): () => void;
  refresh(): Promise<void>;
}

/** Timers, for tests (fake timers); the globals by default. */
export interface FeedTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RealtimeFeedOptions {
  views: RealtimeViews;
  /** Computes a site's numbers (realtimeNumbers over the serving views). */
  compute: (site: string, now: number) => Promise<RealtimeMessage>;
  logger: Logger;
  /** Least time between two computations of a site (ms). @default 250 */
  throttleMs?: number;
  /** A keep-alive comment this often (ms). @default 15000 */
  keepAliveMs?: number;
  /** Refresh the views this often while anybody listens (ms); null: they refresh themselves and say when they change. @default null */
  pollMs?: number | null;
  /** Most subscribers at a time. @default 1000 */
  maxSubscribers?: number;
  /** After a failed computation, try again this long after it (ms), doubled per failure in a row up to 10 s. @default 1000 */
  retryMs?: number;
  /** Clock. @default Date.now */
  now?: () => number;
  timers?: FeedTimers;
}

export const REALTIME_FEED_DEFAULTS = { throttleMs: 250, keepAliveMs: 15_000, maxSubscribers: 1000, retryMs: 1000 } as const;

interface Subscription {
  subscriber: RealtimeSubscriber;
  /** Has had a message. */
  primed: boolean;
}

interface SiteFeed {
  subscriptions: Set<Subscription>;
  last: RealtimeMessage | null;
  computing: boolean;
  /** A change arrived while computing or waiting: compute again. */
  pending: boolean;
  /** When the last computation started. */
  lastStart: number;
  timer: unknown;
  /** Computations that failed in a row: the next try waits retryMs, doubled per failure up to MAX_RETRY_MS. */
  failures: number;
}

/** The longest wait before a failed computation is tried again (ms). */
const MAX_RETRY_MS = 10_000;

const GLOBAL_TIMERS: FeedTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class RealtimeFeed {
  private readonly sites = new Map<string, SiteFeed>();
  private readonly throttleMs: number;
  private readonly keepAliveMs: number;
  private readonly pollMs: number | null;
  private readonly maxSubscribers: number;
  private readonly retryMs: number;
  private readonly clock: () => number;
  private readonly timers: FeedTimers;
  private count = 0;
  private stopListening: (() => void) | null = null;
  private keepAliveTimer: unknown = null;
  private windowTimer: unknown = null;
  private pollTimer: unknown = null;
  /** Counts the starts of the timers: a refresh that ends after a stop (and a new start) schedules nothing. */
  private generation = 0;
  /** Computations run so far (for tests and metrics). */
  computations = 0;

  constructor(private readonly options: RealtimeFeedOptions) {
    this.throttleMs = options.throttleMs ?? REALTIME_FEED_DEFAULTS.throttleMs;
    this.keepAliveMs = options.keepAliveMs ?? REALTIME_FEED_DEFAULTS.keepAliveMs;
    this.pollMs = options.pollMs ?? null;
    this.maxSubscribers = options.maxSubscribers ?? REALTIME_FEED_DEFAULTS.maxSubscribers;
    this.retryMs = options.retryMs ?? REALTIME_FEED_DEFAULTS.retryMs;
    this.clock = options.now ?? Date.now;
    this.timers = options.timers ?? GLOBAL_TIMERS;
  }

  /** Subscribers now. */
  get subscribers(): number {
    return this.count;
  }

  /** Whether anything runs (a listener or a timer): only while somebody listens. */
  get active(): boolean {
    return this.stopListening !== null || this.keepAliveTimer !== null || this.windowTimer !== null || this.pollTimer !== null || this.sites.size > 0;
  }

  /** Throws a 503 when another subscriber would be one too many. */
  refuseWhenFull(): void {
    if (this.count >= this.maxSubscribers) {
      throw new ApiError(503, 'PV_TOO_MANY_STREAMS', `this server has the most realtime streams it holds open (${this.maxSubscribers}); try again later`);
    }
  }

  /**
   * Sends `site`'s numbers to `subscriber` now (synchronously when they are known) and whenever
   * they change; returns the function that ends it. Throws a 503 when full.
   */
  subscribe(site: string, subscriber: RealtimeSubscriber): () => void {
    this.refuseWhenFull();
    if (this.count === 0) this.startTimers();
    this.count++;
    let feed = this.sites.get(site);
    if (feed === undefined) {
      feed = { subscriptions: new Set(), last: null, computing: false, pending: false, lastStart: Number.NEGATIVE_INFINITY, timer: null, failures: 0 };
      this.sites.set(site, feed);
    }
    const subscription: Subscription = { subscriber, primed: false };
    feed.subscriptions.add(subscription);
    if (feed.last !== null) this.deliver(subscription, feed.last);
    else this.schedule(site);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.unsubscribe(site, subscription);
    };
  }

  private unsubscribe(site: string, subscription: Subscription): void {
    const feed = this.sites.get(site);
    if (feed === undefined || !feed.subscriptions.delete(subscription)) return;
    this.count--;
    if (feed.subscriptions.size === 0) {
      if (feed.timer !== null) this.timers.clearTimeout(feed.timer);
      this.sites.delete(site);
    }
    if (this.count === 0) this.stopTimers();
  }

  private deliver(subscription: Subscription, message: RealtimeMessage): void {
    subscription.primed = true;
    try {
      subscription.subscriber.message(message);
    } catch (err) {
      this.options.logger.warn({ err }, 'realtime feed: a subscriber failed');
    }
  }

  /** A change for every site: views changed, or the window moved. */
  private changedAll(): void {
    for (const site of this.sites.keys()) this.schedule(site);
  }

  /** Computes the site's numbers now (or `delayMs` from now), or when the throttle allows, or after the one running. */
  private schedule(site: string, delayMs = 0): void {
    const feed = this.sites.get(site);
    if (feed === undefined) return;
    feed.pending = true;
    // A change does not wait for the retry of a failed computation.
    if (feed.timer !== null && feed.failures > 0 && delayMs === 0) {
      this.timers.clearTimeout(feed.timer);
      feed.timer = null;
    }
    if (feed.computing || feed.timer !== null) return;
    const wait = Math.max(feed.lastStart + this.throttleMs - this.clock(), delayMs);
    // Asynchronously even without a wait: a burst of changes in one turn is one computation.
    feed.timer = this.timers.setTimeout(() => {
      feed.timer = null;
      void this.compute(site, feed);
    }, Math.max(0, wait));
  }

  private async compute(site: string, feed: SiteFeed): Promise<void> {
    if (this.sites.get(site) !== feed) return;
    feed.pending = false;
    feed.computing = true;
    feed.lastStart = this.clock();
    this.computations++;
    let message: RealtimeMessage | null = null;
    try {
      message = await this.options.compute(site, feed.lastStart);
    } catch (err) {
      feed.failures++;
      this.options.logger.warn({ err, site, failures: feed.failures }, 'realtime feed: computing the numbers failed; trying again at the next change or after a wait');
    }
    feed.computing = false;
    if (this.sites.get(site) !== feed) return; // everybody left meanwhile
    if (message === null) {
      // Not only at the next change: a site whose views stay still (no traffic) would wait for
      // the next minute edge, and a new subscriber would see nothing until then.
      this.schedule(site, Math.min(this.retryMs * 2 ** (feed.failures - 1), MAX_RETRY_MS));
      return;
    }
    feed.failures = 0;
    const changed = feed.last === null || numbersOf(feed.last) !== numbersOf(message);
    feed.last = message;
    for (const subscription of [...feed.subscriptions]) if (changed || !subscription.primed) this.deliver(subscription, message);
    if (feed.pending) this.schedule(site);
  }

  private startTimers(): void {
    this.generation++;
    this.stopListening = this.options.views.onChange(() => this.changedAll());
    this.scheduleKeepAlive();
    this.scheduleWindow();
    this.schedulePoll();
  }

  private stopTimers(): void {
    this.stopListening?.();
    this.stopListening = null;
    for (const timer of [this.keepAliveTimer, this.windowTimer, this.pollTimer]) if (timer !== null) this.timers.clearTimeout(timer);
    this.keepAliveTimer = this.windowTimer = this.pollTimer = null;
  }

  private scheduleKeepAlive(): void {
    this.keepAliveTimer = this.timers.setTimeout(() => {
      for (const feed of this.sites.values()) {
        for (const { subscriber } of feed.subscriptions) {
          try {
            subscriber.keepAlive();
          } catch (err) {
            this.options.logger.warn({ err }, 'realtime feed: a subscriber failed');
          }
        }
      }
      this.scheduleKeepAlive();
    }, this.keepAliveMs);
  }

  /** At every minute edge the window's first minute leaves it: the numbers may drop without any new event. */
  private scheduleWindow(): void {
    const now = this.clock();
    this.windowTimer = this.timers.setTimeout(() => {
      this.changedAll();
      this.scheduleWindow();
    }, bucketCeil(now + 1, 'minute') - now || INTERVAL_MS.minute);
  }

  private schedulePoll(): void {
    if (this.pollMs === null) return;
    const generation = this.generation;
    this.pollTimer = this.timers.setTimeout(() => {
      void this.options.views
        .refresh()
        .catch((err: unknown) => this.options.logger.warn({ err }, 'realtime feed: refreshing the views failed'))
        .finally(() => {
          // Still listened to since this poll was scheduled.
          if (this.generation === generation && this.count > 0) this.schedulePoll();
        });
    }, this.pollMs);
  }
}
