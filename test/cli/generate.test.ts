/**
 * The generator as a process, once: flags are tested in flags.test.ts, configuration in
 * test/shared/config.test.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodePageView } from '../../shared/core/page-view.ts';
import { readEmbeddedTopic } from '../support/read-log.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function generate(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'cli/generate.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

async function readAll(dataDir: string): Promise<string[]> {
  return (await readEmbeddedTopic(path.join(dataDir, 'log'), 'page-views')).map((r) => r.value.toString('utf8'));
}

describe('npm run generate', () => {
  it('writes valid, seeded traffic to the embedded log at the requested rate', async () => {
    const dirs = await Promise.all([1, 2].map(() => fs.mkdtemp(path.join(os.tmpdir(), 'pv-gen-'))));
    try {
      for (const dir of dirs) {
        const run = generate(['--rate', '400', '--duration', '1s', '--pages', '50', '--seed', '7'], { DATA_DIR: dir });
        expect(run.status, run.stderr).toBe(0);
        expect(run.stderr).toMatch(/done: \d+ events/);
      }
      const [a, b] = await Promise.all(dirs.map(readAll));
      expect(a!.length).toBeGreaterThanOrEqual(300);
      expect(a!.length).toBeLessThanOrEqual(440);
      for (const value of a!) expect(decodePageView(value).ok).toBe(true);
      // The same seed gives the same events: the shorter run's ids are all in the longer run.
      const ids = (vs: string[]) => new Set(vs.map((v) => JSON.parse(v).eventId as string));
      const [shorter, longer] = a!.length <= b!.length ? [ids(a!), ids(b!)] : [ids(b!), ids(a!)];
      expect([...shorter].filter((id) => !longer.has(id))).toEqual([]);
      const pages = (vs: string[]) => new Set(vs.map((v) => JSON.parse(v).pageId as string));
      expect([...pages(a!)].every((p) => p === '/' || /^\/page\/\d+$/.test(p))).toBe(true);
      expect(pages(a!).size).toBeLessThanOrEqual(50);
    } finally {
      await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
    }
  });
});
