/**
 * Cookieless visitor ids: stable within a UTC day, different on the next, the same in every
 * collector process sharing a store, and the salts of past days destroyed. Clocks are injected.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VisitorSalts, utcDay, visitorIdFrom } from '../../collector/index.ts';
import { DuckDbViewStore } from '../../shared/adapters/view-store/index.ts';
import { silentLogger } from '../../shared/runtime/logger.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 1, 9); // 09:00 UTC

describe('VisitorSalts', () => {
  let store: DuckDbViewStore;
  let now: number;
  const clock = (): number => now;

  beforeEach(async () => {
    store = await DuckDbViewStore.open({ path: ':memory:' });
    await store.migrate();
    now = T0;
  });
  afterEach(async () => {
    await store.close();
  });

  it('gives a visitor the same id all day, and another id the next day', async () => {
    const salts = new VisitorSalts(store, silentLogger, { clock });
    await salts.refresh();
    const morning = await salts.visitorId(T0, 'shop.example', '203.0.113.7', 'Mozilla/5.0');
    expect(morning).toMatch(/^[0-9a-f]{32}$/);
    expect(await salts.visitorId(T0 + 14 * 3_600_000 + 59 * 60_000, 'shop.example', '203.0.113.7', 'Mozilla/5.0')).toBe(morning); // 23:59
    now = T0 + DAY;
    await salts.refresh();
    expect(await salts.visitorId(now, 'shop.example', '203.0.113.7', 'Mozilla/5.0')).not.toBe(morning);
  });

  it('tells visitors apart by site, address and user agent', async () => {
    const salts = new VisitorSalts(store, silentLogger, { clock });
    const ids = await Promise.all([
      salts.visitorId(T0, 'shop.example', '203.0.113.7', 'Mozilla/5.0'),
      salts.visitorId(T0, 'blog.example', '203.0.113.7', 'Mozilla/5.0'),
      salts.visitorId(T0, 'shop.example', '203.0.113.8', 'Mozilla/5.0'),
      salts.visitorId(T0, 'shop.example', '203.0.113.7', 'Mozilla/5.1'),
    ]);
    expect(new Set(ids).size).toBe(4);
  });

  it('gives the same ids in two processes sharing the store, today and at midnight', async () => {
    const a = new VisitorSalts(store, silentLogger, { clock });
    const b = new VisitorSalts(store, silentLogger, { clock });
    await a.refresh(); // creates today's and tomorrow's salts
    await b.refresh();
    expect(await b.visitorId(T0, 's', '198.51.100.1', 'ua')).toBe(await a.visitorId(T0, 's', '198.51.100.1', 'ua'));
    // At midnight neither has refreshed yet: both hold tomorrow's salt already.
    const midnight = Date.UTC(2026, 11, 2);
    expect(await b.visitorId(midnight, 's', '198.51.100.1', 'ua')).toBe(await a.visitorId(midnight, 's', '198.51.100.1', 'ua'));
  });

  it("destroys the salts of past days: yesterday's ids cannot be made again", async () => {
    const salts = new VisitorSalts(store, silentLogger, { clock });
    await salts.refresh();
    const yesterdayId = await salts.visitorId(T0, 's', '192.0.2.1', 'ua');
    now = T0 + DAY;
    await salts.refresh();
    // The store no longer has day T0's salt: asking for it stores a new random one.
    const fresh = await store.visitorSalt(utcDay(T0), 'f'.repeat(64));
    expect(fresh).toBe('f'.repeat(64));
    expect(visitorIdFrom(fresh, 's', '192.0.2.1', 'ua')).not.toBe(yesterdayId);
  });

  it('loads a day\'s salt once however many requests ask at the same time', async () => {
    let calls = 0;
    const counting = { visitorSalt: (day: number, c: string) => ((calls += 1), store.visitorSalt(day, c)), dropVisitorSaltsBefore: (d: number) => store.dropVisitorSaltsBefore(d) };
    const salts = new VisitorSalts(counting, silentLogger, { clock });
    const ids = await Promise.all(Array.from({ length: 20 }, () => salts.visitorId(T0, 's', '192.0.2.1', 'ua')));
    expect(new Set(ids).size).toBe(1);
    expect(calls).toBe(1);
  });
});
