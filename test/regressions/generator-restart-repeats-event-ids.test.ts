/**
 * Regression: the built-in generator of `npm start` drew its events from the same seed at
 * every start, so after a restart it appended the event ids of the previous start again, and
 * the batch layer (which deduplicates by eventId) dropped the new events as duplicates while
 * the speed layer counted them. Each start now has a seed of its own.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { readEmbeddedTopic } from '../support/read-log.ts';
import { startPlatformProcess } from '../support/platform-process.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('two starts on one DATA_DIR append no event id twice', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-generator-restart-'));
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  const env = { DATA_DIR: dataDir, GENERATOR: 'on', GENERATOR_RATE: '200', GENERATOR_HISTORY_DAYS: '0' };
  for (const name of ['first start', 'second start']) {
    const platform = await startPlatformProcess({ name, env });
    cleanups.push(() => platform.stop());
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await platform.stop();
  }
  const ids = (await readEmbeddedTopic(path.join(dataDir, 'log'), 'page-views')).map((r) => (JSON.parse(r.value.toString('utf8')) as { eventId: string }).eventId);
  expect(ids.length).toBeGreaterThan(200);
  expect(ids.length - new Set(ids).size).toBe(0);
}, 60_000);
