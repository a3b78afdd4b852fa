/** The realtime feed with fake timers: shared computations, throttling, change detection, keep-alive, clean-up. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../shared/runtime/logger.ts';
import { ApiError } from '../../shared/runtime/http/api-error.ts';
import { RealtimeFeed, type RealtimeFeedOptions, type RealtimeMessage, type RealtimeViews } from '../../serving-layer/realtime-feed.ts';

/** 12:00:10 UTC: 50 s before a minute edge. */
const START = Date.UTC(2026, 0, 5, 12, 0, 10);

class FakeViews implements RealtimeViews {
  readonly listeners = new Set<() => void>();
  refreshes = 0;
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  refresh(): Promise<void> {
    this.refreshes++;
    return Promise.resolve();
  }
  change(): void {
    for (const l of this.listeners) l();
  }
}

/** Page views per site; the feed's computation reads them. */
const views = new Map<string, number>();
let fake: FakeViews;

const messageOf = (site: string, now: number): RealtimeMessage => {
  const n = views.get(site) ?? 0;
  return {
    site,
    at: new Date(now).toISOString(),
    from: '',
    to: '',
    windowMs: 300_000,
    visitors: { value: Math.min(n, 3), exact: false, relativeStandardError: 0.01 },
    pageviews: { value: n, exact: false, overcountBound: 0 },
    version: String(n),
  };
};

function feedWith(options: Partial<RealtimeFeedOptions> = {}) {
  const compute = vi.fn((site: string, now: number) => Promise.resolve(messageOf(site, now)));
  const feed = new RealtimeFeed({ views: fake, compute, logger: silentLogger, ...options });
  return { feed, compute };
}

function subscriber() {
  const messages: RealtimeMessage[] = [];
  let keepAlives = 0;
  return {
    messages,
    get keepAlives() {
      return keepAlives;
    },
    message: (m: RealtimeMessage) => messages.push(m),
    keepAlive: () => {
      keepAlives++;
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers({ now: START });
  views.clear();
  fake = new FakeViews();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('RealtimeFeed', () => {
  it('computes once per change and fans the message out to every subscriber of the site', async () => {
    const { feed, compute } = feedWith();
    views.set('a', 1);
    const subs = Array.from({ length: 5 }, subscriber);
    for (const s of subs) feed.subscribe('a', s);
    await vi.advanceTimersByTimeAsync(0);
    expect(compute).toHaveBeenCalledTimes(1);
    for (const s of subs) expect(s.messages.map((m) => m.pageviews.value)).toEqual([1]);

    views.set('a', 2);
    fake.change();
    await vi.advanceTimersByTimeAsync(250);
    expect(compute).toHaveBeenCalledTimes(2);
    for (const s of subs) expect(s.messages.map((m) => m.pageviews.value)).toEqual([1, 2]);
  });

  it('keeps sites apart: a change computes each listened-to site once', async () => {
    const { feed, compute } = feedWith();
    const a = subscriber();
    const b = subscriber();
    feed.subscribe('a', a);
    feed.subscribe('b', b);
    await vi.advanceTimersByTimeAsync(0);
    views.set('b', 4);
    fake.change();
    await vi.advanceTimersByTimeAsync(250);
    expect(compute.mock.calls.map(([site]) => site).sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(a.messages).toHaveLength(1); // a's numbers did not change
    expect(b.messages.map((m) => m.pageviews.value)).toEqual([0, 4]);
  });

  it('computes a site at most every throttleMs, folding the changes meanwhile into one', async () => {
    const { feed, compute } = feedWith({ throttleMs: 250 });
    const s = subscriber();
    feed.subscribe('a', s);
    await vi.advanceTimersByTimeAsync(0);
    expect(compute).toHaveBeenCalledTimes(1);
    for (let i = 1; i <= 10; i++) {
      views.set('a', i);
      fake.change();
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(compute).toHaveBeenCalledTimes(1); // 100 ms after the first: still throttled
    await vi.advanceTimersByTimeAsync(150);
    expect(compute).toHaveBeenCalledTimes(2);
    expect(compute.mock.calls[1]?.[1]).toBe(START + 250);
    expect(s.messages.map((m) => m.pageviews.value)).toEqual([0, 10]);
  });

  it('a change while a computation runs gives one more computation after it', async () => {
    let release: () => void = () => undefined;
    const compute = vi.fn(
      (site: string, now: number) =>
        new Promise<RealtimeMessage>((resolve) => {
          const m = messageOf(site, now);
          release = () => resolve(m);
        }),
    );
    const feed = new RealtimeFeed({ views: fake, compute, logger: silentLogger });
    const s = subscriber();
    feed.subscribe('a', s);
    await vi.advanceTimersByTimeAsync(0);
    views.set('a', 1);
    fake.change();
    await vi.advanceTimersByTimeAsync(1000);
    expect(compute).toHaveBeenCalledTimes(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(compute).toHaveBeenCalledTimes(2);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.messages.map((m) => m.pageviews.value)).toEqual([0, 1]);
  });

  it('sends nothing when a change leaves the numbers as they were', async () => {
    const { feed, compute } = feedWith();
    const s = subscriber();
    feed.subscribe('a', s);
    await vi.advanceTimersByTimeAsync(0);
    fake.change();
    await vi.advanceTimersByTimeAsync(1000);
    expect(compute).toHaveBeenCalledTimes(2);
    expect(s.messages).toHaveLength(1);
  });

  it('gives a subscriber who joins later the last numbers at once, without computing them again', async () => {
    const { feed, compute } = feedWith();
    views.set('a', 7);
    feed.subscribe('a', subscriber());
    await vi.advanceTimersByTimeAsync(0);
    const late = subscriber();
    feed.subscribe('a', late);
    expect(late.messages.map((m) => m.pageviews.value)).toEqual([7]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(compute).toHaveBeenCalledTimes(1);
  });

  it('gives a subscriber who joins during the first computation its result, even though the numbers did not change', async () => {
    const { feed } = feedWith();
    const first = subscriber();
    const second = subscriber();
    feed.subscribe('a', first);
    feed.subscribe('a', second);
    await vi.advanceTimersByTimeAsync(0);
    expect(first.messages).toHaveLength(1);
    expect(second.messages).toHaveLength(1);
  });

  it('recomputes at each minute edge, as old minutes leave the window', async () => {
    const { feed, compute } = feedWith();
    feed.subscribe('a', subscriber());
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(49_999);
    expect(compute).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(2); // the edge, and the computation's own turn (a timer of at least 1 ms)
    expect(compute).toHaveBeenCalledTimes(2);
    expect((compute.mock.calls[1]?.[1] ?? 0) - Date.UTC(2026, 0, 5, 12, 1, 0)).toBeLessThanOrEqual(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(compute).toHaveBeenCalledTimes(3);
  });

  it('sends a keep-alive to every subscriber every keepAliveMs', async () => {
    const { feed } = feedWith({ keepAliveMs: 15_000 });
    const a = subscriber();
    const b = subscriber();
    feed.subscribe('a', a);
    feed.subscribe('b', b);
    await vi.advanceTimersByTimeAsync(14_999);
    expect([a.keepAlives, b.keepAlives]).toEqual([0, 0]);
    await vi.advanceTimersByTimeAsync(1);
    expect([a.keepAlives, b.keepAlives]).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(15_000);
    expect([a.keepAlives, b.keepAlives]).toEqual([2, 2]);
  });

  it('stops listening and leaves no timer when the last subscriber leaves', async () => {
    const { feed, compute } = feedWith({ pollMs: 250 });
    const ends = [feed.subscribe('a', subscriber()), feed.subscribe('b', subscriber())];
    await vi.advanceTimersByTimeAsync(0);
    expect(fake.listeners.size).toBe(1);
    expect(feed.active).toBe(true);
    ends[0]?.();
    expect(feed.active).toBe(true);
    ends[1]?.();
    ends[1]?.(); // twice is once
    expect(feed.subscribers).toBe(0);
    expect(feed.active).toBe(false);
    expect(fake.listeners.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    const calls = compute.mock.calls.length;
    fake.change();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(compute).toHaveBeenCalledTimes(calls);
    expect(fake.refreshes).toBe(0);
  });

  it('drops a result that arrives after everybody left', async () => {
    let release: () => void = () => undefined;
    const compute = vi.fn((site: string, now: number) => new Promise<RealtimeMessage>((resolve) => (release = () => resolve(messageOf(site, now)))));
    const feed = new RealtimeFeed({ views: fake, compute, logger: silentLogger });
    const s = subscriber();
    const end = feed.subscribe('a', s);
    await vi.advanceTimersByTimeAsync(0);
    end();
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.messages).toHaveLength(0);
    expect(feed.active).toBe(false);
  });

  it('refreshes views that do not refresh themselves every pollMs, only while somebody listens', async () => {
    const { feed } = feedWith({ pollMs: 250 });
    expect(fake.refreshes).toBe(0);
    const end = feed.subscribe('a', subscriber());
    await vi.advanceTimersByTimeAsync(1000);
    expect(fake.refreshes).toBe(4);
    end();
    await vi.advanceTimersByTimeAsync(1000);
    expect(fake.refreshes).toBe(4);
  });

  it('refuses a subscriber beyond maxSubscribers with a 503, and takes one again when one leaves', () => {
    const { feed } = feedWith({ maxSubscribers: 2 });
    const end = feed.subscribe('a', subscriber());
    feed.subscribe('b', subscriber());
    let refused: unknown;
    try {
      feed.subscribe('a', subscriber());
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 503, code: 'PV_TOO_MANY_STREAMS' });
    end();
    expect(() => feed.subscribe('a', subscriber())).not.toThrow();
  });

  it('a failed computation sends nothing and is tried again at the next change', async () => {
    const compute = vi.fn((site: string, now: number) => Promise.resolve(messageOf(site, now)));
    compute.mockRejectedValueOnce(new Error('store down'));
    const feed = new RealtimeFeed({ views: fake, compute, logger: silentLogger });
    const s = subscriber();
    feed.subscribe('a', s);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.messages).toHaveLength(0);
    fake.change();
    await vi.advanceTimersByTimeAsync(250);
    expect(s.messages).toHaveLength(1);
  });

  it('a failed computation is tried again after retryMs without any change, waiting twice as long per failure in a row', async () => {
    const compute = vi.fn((site: string, now: number) => Promise.resolve(messageOf(site, now)));
    compute.mockRejectedValueOnce(new Error('store down')).mockRejectedValueOnce(new Error('store down')).mockRejectedValueOnce(new Error('store down'));
    const feed = new RealtimeFeed({ views: fake, compute, logger: silentLogger, retryMs: 1000 });
    const s = subscriber();
    feed.subscribe('a', s);
    await vi.advanceTimersByTimeAsync(0);
    expect(compute).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(compute).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(compute).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1999);
    expect(compute).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(compute).toHaveBeenCalledTimes(3);
    expect(s.messages).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(4000);
    expect(compute).toHaveBeenCalledTimes(4);
    expect(s.messages).toHaveLength(1);
    // Succeeded: no more tries until a change.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(compute).toHaveBeenCalledTimes(4);
  });
});
