/**
 * The page's URL, parsed once per event for the source and the UTM fields.
 */

/** A parsed page URL. */
export interface PageLocation {
  /** Its query parameters (decoded: percent-encoding and `+` as space). */
  readonly params: URLSearchParams;
  /** Its host in lower case without `www.`; undefined when only a path was given. */
  readonly host: string | undefined;
}

/** The base a path-only page URL is resolved against (its host is never used). */
const PATH_BASE = 'http://path-only.invalid';

/**
 * `pageUrl` parsed: an absolute URL (Plausible's `u`), or a path with a query (`/pricing?utm_source=x`,
 * as a server-side event's page may be). Anything else, or nothing: undefined.
 */
export function parsePageUrl(pageUrl: unknown): PageLocation | undefined {
  if (typeof pageUrl !== 'string') return undefined;
  const text = pageUrl.trim();
  if (text.length === 0) return undefined;
  const pathOnly = text.charCodeAt(0) === 0x2f /* / */ && text.charCodeAt(1) !== 0x2f && text.charCodeAt(1) !== 0x5c; /* not // or /\ */
  let url: URL;
  try {
    url = pathOnly ? new URL(text, PATH_BASE) : new URL(text);
  } catch {
    return undefined;
  }
  return { params: url.searchParams, host: pathOnly ? undefined : siteHost(url.hostname) };
}

/**
 * A host as the internal-referrer check compares it (Plausible's sanitize_hostname): lower
 * case, without a trailing dot and without a leading `www.`. Empty: undefined.
 */
export function siteHost(hostname: string): string | undefined {
  let host = hostname.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.startsWith('www.')) host = host.slice(4);
  return host.length === 0 ? undefined : host;
}
