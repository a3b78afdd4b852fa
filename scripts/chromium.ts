/**
 * The browser of the real-browser tests (test/browser/) and of the dashboard benchmark
 * (bench/dashboard.ts): Debian's chromium, installed by `bash scripts/browser.sh`, driven by
 * playwright-core, which never downloads a browser of its own.
 */

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** What to run when chromium is missing. */
export const CHROMIUM_INSTALL = 'bash scripts/browser.sh';

/**
 * Headless, as root, on a machine without a network: no sandbox (root), no GPU, and none of
 * Chromium's own background traffic (updates, sync, field trials), which would otherwise flood
 * the closed network with refused connections. playwright gives each launch a fresh temporary
 * profile (--user-data-dir) and removes it on close.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
