import { describe, expect, it } from 'vitest';
import { MAX_CACHED_USER_AGENT_LENGTH, UserAgentCache, majorMinor, parseUserAgent, type AgentFields } from '../../../collector/enrichment/user-agent.ts';

/** Real user agents and what they are, written by hand (not from the parser's output). */
const TABLE: [string, string, AgentFields][] = [
  [
    'Chrome, Windows 10',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36',
    { browser: 'Chrome', browserVersion: '120.0', os: 'Windows', osVersion: '10', device: 'Desktop' },
  ],
  [
    'Safari, iPhone',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
    { browser: 'Safari', browserVersion: '17.2', os: 'iOS', osVersion: '17.2', device: 'Mobile' },
  ],
  [
    'Safari, iPad',
    'Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1',
    { browser: 'Safari', browserVersion: '16.6', os: 'iOS', osVersion: '16.6', device: 'Tablet' },
  ],
  [
    'Safari, macOS',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
    { browser: 'Safari', browserVersion: '17.2', os: 'macOS', osVersion: '10.15', device: 'Desktop' },
  ],
  [
    'Firefox, Linux',
    'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
    { browser: 'Firefox', browserVersion: '121.0', os: 'Linux', device: 'Desktop' },
  ],
  [
    'Firefox, Ubuntu',
    'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
    { browser: 'Firefox', browserVersion: '121.0', os: 'Ubuntu', device: 'Desktop' },
  ],
  [
    'Firefox, Android phone',
    'Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0',
    { browser: 'Firefox', browserVersion: '121.0', os: 'Android', osVersion: '14', device: 'Mobile' },
  ],
  [
    'Edge, Windows',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91',
    { browser: 'Edge', browserVersion: '120.0', os: 'Windows', osVersion: '10', device: 'Desktop' },
  ],
  [
    'Samsung Internet, Android phone',
    'Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
    { browser: 'Samsung Internet', browserVersion: '23.0', os: 'Android', osVersion: '13', device: 'Mobile' },
  ],
  [
    'Chrome, Android phone',
    'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36',
    { browser: 'Chrome', browserVersion: '120.0', os: 'Android', osVersion: '10', device: 'Mobile' },
  ],
  [
    'Chrome, Android tablet',
    'Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    { browser: 'Chrome', browserVersion: '120.0', os: 'Android', osVersion: '13', device: 'Tablet' },
  ],
  [
    'Chrome, iPhone (CriOS)',
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1',
    { browser: 'Chrome', browserVersion: '120.0', os: 'iOS', osVersion: '17.2', device: 'Mobile' },
  ],
  [
    'Opera, Windows',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0',
    { browser: 'Opera', browserVersion: '106.0', os: 'Windows', osVersion: '10', device: 'Desktop' },
  ],
  [
    'Opera Mobi folds into Opera',
    'Opera/9.80 (Android 2.3.3; Linux; Opera Mobi/ADR-1111101157; U; es-ES) Presto/2.9.201 Version/11.50',
    { browser: 'Opera', browserVersion: '11.50', os: 'Android', osVersion: '2.3', device: 'Desktop' },
  ],
  [
    'Chrome, ChromeOS',
    'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    { browser: 'Chrome', browserVersion: '120.0', os: 'Chrome OS', osVersion: '14541.0', device: 'Desktop' },
  ],
  [
    'Internet Explorer 8, Windows 7',
    'Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)',
    { browser: 'IE', browserVersion: '8.0', os: 'Windows', osVersion: '7', device: 'Desktop' },
  ],
  ['unknown text: nothing but the default device', 'x', { device: 'Desktop' }],
  ['empty', '', {}],
  ['blank', '  ', {}],
];

describe('parseUserAgent', () => {
  it.each(TABLE)('%s', (_name, userAgent, expected) => {
    expect(parseUserAgent(userAgent)).toEqual(expected);
  });
});

describe('majorMinor', () => {
  it.each([
    ['120.0.6099.109', '120.0'],
    ['17.2.1', '17.2'],
    ['17.2', '17.2'],
    ['10', '10'],
    ['120.', '120'],
    ['One', 'One'],
    ['', ''],
  ])('%s → %s', (version, expected) => {
    expect(majorMinor(version)).toBe(expected);
  });
});

describe('UserAgentCache', () => {
  const [[, chrome], [, safari], [, firefox]] = TABLE as [[string, string], [string, string], [string, string], ...unknown[]];

  it('gives what parseUserAgent gives, and counts hits and misses', () => {
    const cache = new UserAgentCache(10);
    expect(cache.agent(chrome)).toEqual(parseUserAgent(chrome));
    expect(cache.agent(chrome)).toEqual(parseUserAgent(chrome));
    expect(cache.stats()).toMatchObject({ size: 1, hits: 1, misses: 1 });
  });

  it('keeps at most its capacity, evicting the least recently used', () => {
    const cache = new UserAgentCache(2);
    cache.agent(chrome);
    cache.agent(safari);
    cache.agent(chrome); // chrome is now the most recent
    cache.agent(firefox); // evicts safari
    expect(cache.stats().size).toBe(2);
    cache.agent(chrome);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 3 });
    cache.agent(safari);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 4 });
  });

  it('does not cache user agents longer than the bound', () => {
    const cache = new UserAgentCache(10);
    const long = `${chrome} ${'x'.repeat(MAX_CACHED_USER_AGENT_LENGTH)}`;
    expect(cache.agent(long)).toMatchObject({ browser: 'Chrome' });
    expect(cache.isBot(long)).toBe(false);
    expect(cache.stats().size).toBe(0);
  });

  it('works with capacity 0', () => {
    const cache = new UserAgentCache(0);
    expect(cache.agent(chrome)).toMatchObject({ browser: 'Chrome' });
    expect(cache.stats()).toMatchObject({ size: 0, hits: 0, misses: 1 });
  });

  it('caches the bot verdict beside the fields', () => {
    const cache = new UserAgentCache(10);
    expect(cache.isBot('curl/8.4.0')).toBe(true);
    expect(cache.isBot(chrome)).toBe(false);
    expect(cache.isBot('')).toBe(true);
    expect(cache.stats().size).toBe(3);
  });
});
