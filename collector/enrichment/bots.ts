/**
 * Bot detection: crawlers, HTTP libraries (curl, python-requests), monitors and headless or
 * automated browsers (HeadlessChrome, PhantomJS), by isbot's pattern list.
 *
 * A missing or blank user agent counts as a bot: every browser sends one, and Plausible drops
 * requests without it. A caller that accepts server-side events without a user agent decides
 * for those itself (by not asking).
 */

import { isbot } from 'isbot';

/** Whether `userAgent` is a bot, crawler or automated browser; true when it is missing or blank. */
export function isBotUserAgent(userAgent: unknown): boolean {
  if (typeof userAgent !== 'string' || userAgent.trim().length === 0) return true;
  return isbot(userAgent);
}
