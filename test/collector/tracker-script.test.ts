/**
 * The tracker script's behaviour, run in a bare V8 context with a fake window (no DOM, no
 * network): what it sends, when, and where, for each attribute, and that it never throws into
 * the page. test/browser/tracker.test.ts runs it in a real Chromium against the platform.
 */
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { TRACKER_SCRIPT_FILE } from '../../collector/tracker.ts';

const SOURCE = readFileSync(TRACKER_SCRIPT_FILE, 'utf8');
const SCRIPT_SRC = 'https://analytics.example/js/script.js';
const ENDPOINT = 'https://analytics.example/api/event';

interface Sent {
  via: 'beacon' | 'fetch';
  url: string;
  body: Record<string, unknown>;
  init?: Record<string, unknown>;
}

interface FakeOptions {
  href?: string;
  attrs?: Record<string, string>;
  referrer?: string;
  /** What sendBeacon does. @default 'queue' */
  beacon?: 'queue' | 'refuse' | 'throw' | 'absent';
  /** What fetch does. @default 'resolve' */
  fetch?: 'resolve' | 'reject' | 'absent';
  visibilityState?: string;
  /** No document.currentScript (and none found by selector). */
  noScript?: boolean;
  /** Extra globals (window._phantom, a queue stub, …). */
  globals?: Record<string, unknown>;
  webdriver?: boolean;
}

/** A fake window the script runs in; `sent` fills as it sends. */
function fakeWindow(o: FakeOptions = {}) {
  let url = new URL(o.href ?? 'https://shop.example/');
  const sent: Sent[] = [];
  const warnings: string[] = [];
  const touched: string[] = [];
  const listeners = new Map<string, (() => void)[]>();
  const docListeners = new Map<string, (() => void)[]>();
  const on = (map: Map<string, (() => void)[]>) => (type: string, fn: () => void) => map.set(type, [...(map.get(type) ?? []), fn]);
  const attrs = { 'data-domain': 'shop.example', ...o.attrs };
  const script = { src: SCRIPT_SRC, getAttribute: (n: string) => (n in attrs ? attrs[n as keyof typeof attrs] : null), hasAttribute: (n: string) => n in attrs };
  const catches: string[] = [];
  const document = {
    currentScript: o.noScript === true ? null : script,
    querySelector: () => (o.noScript === true ? null : script),
    referrer: o.referrer ?? '',
    visibilityState: o.visibilityState ?? 'visible',
    addEventListener: on(docListeners),
    get cookie(): string {
      touched.push('document.cookie');
      return '';
    },
    set cookie(_v: string) {
      touched.push('document.cookie');
    },
  };
  const location = {
    get href() { return url.href; },
    get pathname() { return url.pathname; },
    get hash() { return url.hash; },
    get hostname() { return url.hostname; },
    get protocol() { return url.protocol; },
  };
  const pushed: unknown[][] = [];
  const history = {
    pushState(...args: unknown[]) {
      pushed.push(args);
      url = new URL(String(args[2]), url);
      return 'original-result';
    },
  };
  const navigator: Record<string, unknown> = { webdriver: o.webdriver ?? false };
  if ((o.beacon ?? 'queue') !== 'absent') {
    navigator['sendBeacon'] = (to: string, body: string) => {
      if (o.beacon === 'throw') throw new TypeError('beacon blocked');
      if (o.beacon === 'refuse') return false;
      sent.push({ via: 'beacon', url: to, body: JSON.parse(body) as Record<string, unknown> });
      return true;
    };
  }
  const window: Record<string, unknown> = {
    document,
    location,
    history,
    navigator,
    innerWidth: 1280,
    URL,
    console: { warn: (m: string) => warnings.push(m) },
    addEventListener: on(listeners),
    ...o.globals,
  };
  if ((o.fetch ?? 'resolve') !== 'absent') {
    window['fetch'] = (to: string, init: Record<string, unknown>) => {
      sent.push({ via: 'fetch', url: to, body: JSON.parse(String(init['body'])) as Record<string, unknown>, init });
      const p: Promise<unknown> = o.fetch === 'reject' ? Promise.reject(new TypeError('Failed to fetch')) : Promise.resolve({ status: 202 });
      p.then(undefined, () => undefined); // no unhandled rejection in this process whatever the script does
      const caught = p.catch.bind(p);
      // Records whether the script handles a failed request (an unhandled rejection would reach the page's handlers).
      p.catch = (onRejected) => {
        catches.push(to);
        return caught(onRejected);
      };
      return p;
    };
  }
  for (const name of ['localStorage', 'sessionStorage', 'indexedDB']) {
    Object.defineProperty(window, name, { get: () => touched.push(name) });
  }
  window['window'] = window;
  const context = vm.createContext(window);
  const fire = (map: Map<string, (() => void)[]>, type: string) => (map.get(type) ?? []).forEach((fn) => fn());
  return {
    sent,
    warnings,
    touched,
    pushed,
    catches,
    run: () => vm.runInContext(SOURCE, context) as unknown,
    /** Evaluates page code in the window (e.g. the page's own calls). */
    page: (code: string) => vm.runInContext(code, context) as unknown,
    /** The user goes back or forward, or follows a #fragment link. */
    popTo: (href: string) => {
      url = new URL(href, url);
      fire(listeners, 'popstate');
    },
    hashTo: (hash: string) => {
      url = new URL(hash, url);
      fire(listeners, 'popstate');
      fire(listeners, 'hashchange');
    },
    /** The page comes back from the back-forward cache (`persisted`), or is shown after a normal load. */
    pageshow: (persisted: boolean) => (listeners.get('pageshow') ?? []).forEach((fn) => (fn as (e: { persisted: boolean }) => void)({ persisted })),
    show: () => {
      document.visibilityState = 'visible';
      fire(docListeners, 'visibilitychange');
    },
    paths: () => sent.map((s) => new URL(String(s.body['u'])).pathname + new URL(String(s.body['u'])).hash),
  };
}

describe('the tracker script', () => {
  it("sends a page view on load: Plausible's payload by sendBeacon to the script's origin", () => {
    const w = fakeWindow({ href: 'https://shop.example/shoes?utm_source=news', referrer: 'https://www.google.com/' });
    w.run();
    expect(w.sent).toEqual([
      { via: 'beacon', url: ENDPOINT, body: { n: 'pageview', u: 'https://shop.example/shoes?utm_source=news', d: 'shop.example', r: 'https://www.google.com/', w: 1280 } },
    ]);
    expect(w.warnings).toEqual([]);
  });

  it('sends r: null without a referrer, and takes the site from location.hostname without data-domain', () => {
    const w = fakeWindow({ attrs: { 'data-domain': '' } });
    w.run();
    expect(w.sent.map((s) => s.body)).toEqual([{ n: 'pageview', u: 'https://shop.example/', d: 'shop.example', r: null, w: 1280 }]);
  });

  it('data-api overrides the endpoint', () => {
    const w = fakeWindow({ attrs: { 'data-api': 'https://proxy.shop.example/pv/event' } });
    w.run();
    expect(w.sent.map((s) => s.url)).toEqual(['https://proxy.shop.example/pv/event']);
  });

  it('counts single-page-app navigation by pushState and popstate, once per new path', () => {
    const w = fakeWindow();
    w.run();
    expect(w.page("history.pushState({ id: 1 }, '', '/products')")).toBe('original-result');
    expect(w.pushed).toEqual([[{ id: 1 }, '', '/products']]);
    w.page("history.pushState({}, '', '/products/42')");
    w.page("history.pushState({}, '', '/products/42?tab=reviews')"); // same path: not a new page
    w.popTo('/products'); // back
    w.popTo('/products#reviews'); // a fragment link: same path
    expect(w.paths()).toEqual(['/', '/products', '/products/42', '/products']);
  });

  it('in hash mode (data-hash-mode) the hash is part of the page: "h":1, and hashchange counts', () => {
    const w = fakeWindow({ href: 'https://shop.example/#/home', attrs: { 'data-hash-mode': '' } });
    w.run();
    w.hashTo('#/cart');
    w.hashTo('#/cart'); // unchanged
    w.page("history.pushState({}, '', '/#/checkout')");
    expect(w.paths()).toEqual(['/#/home', '/#/cart', '/#/checkout']);
    expect(w.sent.every((s) => s.body['h'] === 1)).toBe(true);
  });

  it('without hash mode sends no "h" and does not count hash changes', () => {
    const w = fakeWindow();
    w.run();
    w.hashTo('#/cart');
    expect(w.paths()).toEqual(['/']);
    expect(w.sent[0]?.body).not.toHaveProperty('h');
  });

  it.each([
    ['localhost', 'http://localhost:3000/'],
    ['127.0.0.1', 'http://127.0.0.1:8080/'],
    ['127.1', 'http://127.1/'],
    ['[::1]', 'http://[::1]:8080/'],
    ['a file: page', 'file:///home/me/site/index.html'],
  ])('ignores %s, saying so, unless data-allow-localhost', (_name, href) => {
    const ignored = fakeWindow({ href });
    ignored.run();
    ignored.page("history.pushState({}, '', '/next')");
    expect(ignored.sent).toEqual([]);
    expect(ignored.warnings).toEqual(['Ignoring event (localhost): pageview', 'Ignoring event (localhost): pageview']);
    const allowed = fakeWindow({ href, attrs: { 'data-allow-localhost': '' } });
    allowed.run();
    expect(allowed.sent).toHaveLength(1);
  });

  it('counts a host that only starts like localhost', () => {
    const w = fakeWindow({ href: 'https://localhost.shop.example/' });
    w.run();
    expect(w.sent).toHaveLength(1);
  });

  it.each([
    ['navigator.webdriver', { webdriver: true }],
    ['PhantomJS', { globals: { _phantom: {} } }],
    ['Nightmare', { globals: { __nightmare: {} } }],
    ['Cypress', { globals: { Cypress: {} } }],
  ] as [string, FakeOptions][])('ignores an automated browser (%s) unless data-allow-automation', (_name, options) => {
    const ignored = fakeWindow(options);
    ignored.run();
    expect(ignored.sent).toEqual([]);
    expect(ignored.warnings).toEqual(['Ignoring event (automated browser): pageview']);
    const allowed = fakeWindow({ ...options, attrs: { 'data-allow-automation': '' } });
    allowed.run();
    expect(allowed.sent).toHaveLength(1);
  });

  it("manual mode (data-manual): no automatic page views; plausible('pageview', {u}) sends one", () => {
    const w = fakeWindow({ attrs: { 'data-manual': '' } });
    w.run();
    w.page("history.pushState({}, '', '/products')");
    expect(w.sent).toEqual([]);
    w.page("plausible('pageview', { u: 'https://shop.example/virtual/step-2' })");
    expect(w.sent.map((s) => s.body)).toEqual([{ n: 'pageview', u: 'https://shop.example/virtual/step-2', d: 'shop.example', r: null, w: 1280 }]);
  });

  it('sends other event names with their props, and calls the callback', () => {
    const w = fakeWindow({ attrs: { 'data-manual': '' } });
    w.run();
    w.page("var called = 0; plausible('Signup', { props: { plan: 'pro' }, callback: function () { called++ } })");
    expect(w.sent.map((s) => s.body)).toEqual([{ n: 'Signup', u: 'https://shop.example/', d: 'shop.example', r: null, w: 1280, p: { plan: 'pro' } }]);
    expect(w.page('called')).toBe(1);
  });

  it("sends the calls queued by Plausible's stub before it loaded, after the page view", () => {
    const w = fakeWindow();
    w.page("window.plausible = window.plausible || function () { (window.plausible.q = window.plausible.q || []).push(arguments) }");
    w.page("plausible('Signup'); plausible('pageview', { u: 'https://shop.example/queued' })");
    w.run();
    expect(w.sent.map((s) => [s.body['n'], s.body['u']])).toEqual([
      ['pageview', 'https://shop.example/'],
      ['Signup', 'https://shop.example/'],
      ['pageview', 'https://shop.example/queued'],
    ]);
  });

  it.each([
    ['refuses', 'refuse'],
    ['throws', 'throw'],
    ['is absent', 'absent'],
  ] as const)('falls back to fetch with keepalive and a text/plain body when sendBeacon %s', (_name, beacon) => {
    const w = fakeWindow({ beacon });
    w.run();
    expect(w.sent).toEqual([
      {
        via: 'fetch',
        url: ENDPOINT,
        body: { n: 'pageview', u: 'https://shop.example/', d: 'shop.example', r: null, w: 1280 },
        init: { method: 'POST', body: expect.any(String) as string, keepalive: true, headers: { 'Content-Type': 'text/plain' } },
      },
    ]);
  });

  it('never throws into the page: a failed fetch, no transport, a cyclic props object, no script element', () => {
    const rejected = fakeWindow({ beacon: 'refuse', fetch: 'reject' });
    expect(() => rejected.run()).not.toThrow();
    expect(rejected.catches).toEqual([ENDPOINT]); // the failed request's rejection is handled
    const none = fakeWindow({ beacon: 'absent', fetch: 'absent' });
    expect(() => none.run()).not.toThrow();
    expect(() => none.page("var o = {}; o.o = o; plausible('x', { props: o }); plausible(); plausible(null, 42)")).not.toThrow();
    const orphan = fakeWindow({ noScript: true });
    expect(() => orphan.run()).not.toThrow();
    expect(orphan.page('typeof window.plausible')).toBe('undefined');
    const hostile = fakeWindow({ globals: { addEventListener: () => { throw new Error('no events here'); } } });
    expect(() => hostile.run()).not.toThrow();
  });

  it('a second copy of the script on the page counts nothing more', () => {
    const w = fakeWindow();
    w.run();
    w.run();
    w.page("history.pushState({}, '', '/products')");
    expect(w.paths()).toEqual(['/', '/products']);
  });

  it('a prerendered page counts when it is shown, not before', () => {
    const w = fakeWindow({ visibilityState: 'prerender' });
    w.run();
    expect(w.sent).toEqual([]);
    w.show();
    w.show();
    expect(w.paths()).toEqual(['/']);
  });

  it('counts a page restored from the back-forward cache, not a normal pageshow', () => {
    const w = fakeWindow();
    w.run();
    w.pageshow(false);
    w.page("history.pushState({}, '', '/products')");
    w.pageshow(true); // back to /products from another site, restored from the cache
    expect(w.paths()).toEqual(['/', '/products', '/products']);
  });

  it('touches no cookie and no storage', () => {
    const w = fakeWindow({ attrs: { 'data-hash-mode': '' } });
    w.run();
    w.page("history.pushState({}, '', '/a'); plausible('x')");
    expect(w.sent).toHaveLength(3);
    expect(w.touched).toEqual([]);
  });
});
