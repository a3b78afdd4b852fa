/**
 * Browser, OS and device type from the user agent (ua-parser-js 1.x), behind a bounded LRU cache
 * keyed by the user-agent string: the same few thousand strings make up nearly all traffic, and
 * a parse costs about 20 µs where a cache hit costs well under 1 µs.
 *
 * Names are ua-parser-js's, except that mobile variants fold into their browser as Plausible
 * folds them ("Mobile Safari" is Safari, "Opera Mini" is Opera) and two OS names take their
 * current form ("Mac OS" is macOS, "Chromium OS" is Chrome OS): {@link BROWSER_NAMES},
 * {@link OS_NAMES}. Versions keep major.minor at most, as Plausible does ("120.0.6099.109" is
 * "120.0", iOS "17.2.1" is "17.2").
 */

import UAParser from 'ua-parser-js';
import { PAGE_VIEW_LIMITS, type Device } from '../../shared/core/page-view.ts';
import { isBotUserAgent } from './bots.ts';
import { deviceFromAgentType } from './device.ts';
import { LruCache } from './lru.ts';
import { cleanText } from './text.ts';

/** What a user agent says about the visit. */
export interface AgentFields {
  browser?: string;
  browserVersion?: string;
  os?: string;
  osVersion?: string;
  /** From the user agent's device type; used when the event has no width. */
  device?: Device;
}

/** ua-parser-js browser name → the name stored. */
export const BROWSER_NAMES: ReadonlyMap<string, string> = new Map([
  ['Mobile Safari', 'Safari'],
  ['Opera Mini', 'Opera'],
  ['Opera Mobi', 'Opera'],
  ['Opera Tablet', 'Opera'],
  ['Opera Touch', 'Opera'],
]);

/** ua-parser-js OS name → the name stored. */
export const OS_NAMES: ReadonlyMap<string, string> = new Map([
  ['Mac OS', 'macOS'],
  ['Chromium OS', 'Chrome OS'],
]);

/**
 * User agents longer than this are parsed every time, not cached, so that the cache's memory
 * stays bounded (about capacity × 1 KiB at worst). Real browsers' are 100–300 characters.
 */
export const MAX_CACHED_USER_AGENT_LENGTH = 512;

/** "120.0.6099.109" → "120.0"; "17" → "17". */
export function majorMinor(version: string): string {
  const [major = '', minor] = version.split('.', 2);
  return minor === undefined || minor.length === 0 ? major : `${major}.${minor}`;
}

const AGENT_TEXT_MAX = PAGE_VIEW_LIMITS.agentTextMaxLength;

/** Parses one user agent, uncached. Blank: no fields. */
export function parseUserAgent(userAgent: string): AgentFields {
  if (userAgent.trim().length === 0) return {};
  const result = new UAParser(userAgent).getResult();
  const fields: AgentFields = {};
  const browser = result.browser.name === undefined ? undefined : cleanText(BROWSER_NAMES.get(result.browser.name) ?? result.browser.name, AGENT_TEXT_MAX);
  if (browser !== undefined) {
    fields.browser = browser;
    const version = result.browser.version === undefined ? undefined : cleanText(majorMinor(result.browser.version), AGENT_TEXT_MAX);
    if (version !== undefined) fields.browserVersion = version;
  }
  const os = result.os.name === undefined ? undefined : cleanText(OS_NAMES.get(result.os.name) ?? result.os.name, AGENT_TEXT_MAX);
  if (os !== undefined) {
    fields.os = os;
    const version = result.os.version === undefined ? undefined : cleanText(majorMinor(result.os.version), AGENT_TEXT_MAX);
    if (version !== undefined) fields.osVersion = version;
  }
  fields.device = deviceFromAgentType(result.device.type);
  return fields;
}

interface CacheEntry {
  agent?: AgentFields;
  bot?: boolean;
}

export interface UserAgentCacheStats {
  /** Entries held. */
  size: number;
  capacity: number;
  hits: number;
  misses: number;
}

/** {@link parseUserAgent} and {@link isBotUserAgent}, each computed once per user agent while it stays in the cache. */
export class UserAgentCache {
  private readonly cache: LruCache<string, CacheEntry>;
  private hits = 0;
  private misses = 0;

  constructor(capacity: number) {
    this.cache = new LruCache(capacity);
  }

  /** The fields of `userAgent`. The object is shared with the cache: copy it, never change it. */
  agent(userAgent: string): Readonly<AgentFields> {
    const entry = this.entry(userAgent);
    if (entry === undefined) {
      this.misses++;
      return parseUserAgent(userAgent);
    }
    if (entry.agent !== undefined) {
      this.hits++;
      return entry.agent;
    }
    this.misses++;
    return (entry.agent = parseUserAgent(userAgent));
  }

  isBot(userAgent: string): boolean {
    const entry = this.entry(userAgent);
    if (entry === undefined) return isBotUserAgent(userAgent);
    return (entry.bot ??= isBotUserAgent(userAgent));
  }

  stats(): UserAgentCacheStats {
    return { size: this.cache.size, capacity: this.cache.capacity, hits: this.hits, misses: this.misses };
  }

  /** The cache entry of `userAgent` (created empty), or undefined when it is not cached at all. */
  private entry(userAgent: string): CacheEntry | undefined {
    if (userAgent.length > MAX_CACHED_USER_AGENT_LENGTH || this.cache.capacity === 0) return undefined;
    let entry = this.cache.get(userAgent);
    if (entry === undefined) {
      entry = {};
      this.cache.set(userAgent, entry);
    }
    return entry;
  }
}
