/**
 * The `source` visit field: where a visit came from, as Plausible resolves it
 * (Plausible.Ingestion.Source):
 *
 * 1. A tagged source in the page URL wins: `utm_source`, else `source`, else `ref` (the first
 *    non-empty one). A value that names a known source ("google", "GOOGLE", "ig",
 *    "chatgpt.com", "google.co.uk") becomes its name ("Google", "Instagram", "ChatGPT");
 *    any other value is kept as given (trimmed).
 * 2. Else the referrer, unless it is internal (same host as the page, `www.` aside) or
 *    localhost: a known host gives its name, any other http(s) host is the source (lower case,
 *    without `www.`, port and trailing dot; IDN hosts in their ASCII form, as browsers send
 *    them). `android-app://<id>` referrers give a known app's name, else `android-app://<id>`
 *    (Plausible's form). Other schemes (file:, chrome-extension:, about:) give no source.
 * 3. Else none ("Direct / None").
 *
 * A referrer without a scheme ("example.com/page", "//example.com/page") is read as http.
 */

import { PAGE_VIEW_LIMITS } from '../../shared/core/page-view.ts';
import { KNOWN_SOURCES, WILDCARD_ENDING_RE } from './known-sources.ts';
import { siteHost, type PageLocation } from './page-url.ts';
import { cleanText } from './text.ts';

/** The query parameters that tag a source, in the order Plausible reads them. */
export const SOURCE_PARAMETERS = ['utm_source', 'source', 'ref'] as const;

const NAME_BY_HOST = new Map<string, string>();
const NAME_BY_APP = new Map<string, string>();
/** Lower-case names and aliases → name. */
const NAME_BY_ALIAS = new Map<string, string>();
for (const { name, hosts, apps = [], aliases = [] } of KNOWN_SOURCES) {
  for (const host of hosts) NAME_BY_HOST.set(host, name);
  for (const app of apps) NAME_BY_APP.set(app, name);
  NAME_BY_ALIAS.set(name.toLowerCase(), name);
  for (const alias of aliases) NAME_BY_ALIAS.set(alias, name);
}

/**
 * The known source of a host (lower case, without `www.`), or undefined. The most specific
 * entry wins: a.b.example.com is looked up as itself, then b.example.com, then example.com;
 * at each step a `name.*` entry matches name.<ending>.
 */
export function knownSourceOfHost(host: string): string | undefined {
  let h = host;
  for (;;) {
    const exact = NAME_BY_HOST.get(h);
    if (exact !== undefined) return exact;
    const dot = h.indexOf('.');
    if (dot <= 0) return undefined;
    const rest = h.slice(dot + 1);
    if (WILDCARD_ENDING_RE.test(rest)) {
      const wildcard = NAME_BY_HOST.get(`${h.slice(0, dot)}.*`);
      if (wildcard !== undefined) return wildcard;
    }
    h = rest;
  }
}

/** The known source of an Android app id, or undefined. */
export function knownSourceOfApp(appId: string): string | undefined {
  return NAME_BY_APP.get(appId.toLowerCase());
}

/**
 * A tagged source (`utm_source` …) mapped through the table, case-insensitively: a name or
 * alias ("google", "ig"), or a known host ("google.co.uk", "www.chatgpt.com"). Else as given.
 */
export function mapTaggedSource(value: string): string {
  const lower = value.toLowerCase();
  const byName = NAME_BY_ALIAS.get(lower);
  if (byName !== undefined) return byName;
  if (lower.includes('.') && !/[\s/:]/.test(lower)) {
    const host = siteHost(lower);
    const byHost = host === undefined ? undefined : knownSourceOfHost(host);
    if (byHost !== undefined) return byHost;
  }
  return value;
}

/** The first non-empty value of the tagging parameters, cleaned; undefined when none. */
export function taggedSource(page: PageLocation | undefined): string | undefined {
  if (page === undefined) return undefined;
  for (const name of SOURCE_PARAMETERS) {
    for (const value of page.params.getAll(name)) {
      const cleaned = cleanText(value, PAGE_VIEW_LIMITS.visitTextMaxLength);
      if (cleaned !== undefined) return cleaned;
    }
  }
  return undefined;
}

/** `host.tld[:port][/…]` or `//host.tld…`: a referrer without a scheme, read as http. */
const SCHEMELESS_RE = /^(?:\/\/)?[^\s/?#:@.]+(?:\.[^\s/?#:@.]+)+(?::\d*)?(?:[/?#]|$)/u;

/** A referrer parsed as a URL (scheme-less ones as http), or undefined. */
export function parseReferrer(referrer: string): URL | undefined {
  const text = referrer.trim();
  if (text.length === 0) return undefined;
  try {
    return SCHEMELESS_RE.test(text) ? new URL(`http://${text.startsWith('//') ? text.slice(2) : text}`) : new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * The source a referrer gives, or undefined (none, internal, localhost, unusable). `pageHost`
 * is the page's host as {@link siteHost} gives it; without it no referrer counts as internal.
 */
export function referrerSource(referrer: string, pageHost: string | undefined): string | undefined {
  const url = parseReferrer(referrer);
  if (url === undefined) return undefined;
  const host = siteHost(url.hostname);
  if (host === undefined) return undefined;
  switch (url.protocol) {
    case 'http:':
    case 'https:': {
      if (host === pageHost || host === 'localhost') return undefined;
      return knownSourceOfHost(host) ?? host;
    }
    case 'android-app:':
      return knownSourceOfApp(host) ?? `android-app://${host}`;
    default:
      return undefined;
  }
}

/** The `source` field for a page and referrer (see the module comment), or undefined. */
export function visitSource(page: PageLocation | undefined, referrer: unknown): string | undefined {
  const tagged = taggedSource(page);
  if (tagged !== undefined) return cleanText(mapTaggedSource(tagged), PAGE_VIEW_LIMITS.visitTextMaxLength);
  if (typeof referrer !== 'string') return undefined;
  const source = referrerSource(referrer, page?.host);
  return source === undefined ? undefined : cleanText(source, PAGE_VIEW_LIMITS.visitTextMaxLength);
}
