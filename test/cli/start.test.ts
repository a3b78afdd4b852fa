/** npm start refuses a bad configuration before it opens anything: exit 2, every problem named with its rule. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('npm start', () => {
  it('refuses an ADMIN_API_KEY or a READ_API_KEYS key shorter than 16 characters, naming the variable and the rule, never the key', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pv-start-'));
    try {
      const start = spawnSync(process.execPath, ['--import', 'tsx', 'cli/start.ts'], {
        cwd: ROOT,
        env: { PATH: process.env['PATH'] ?? '', DATA_DIR: dir, PORT: '0', ADMIN_API_KEY: 'short-admin', READ_API_KEYS: 'a-long-enough-read-key,short-read' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(start.status, start.stderr).toBe(2);
      expect(start.stderr).toContain('ADMIN_API_KEY: must be at least 16 characters');
      expect(start.stderr).toContain('READ_API_KEYS: each key must be at least 16 characters');
      expect(start.stderr).not.toContain('short-admin');
      expect(start.stderr).not.toContain('short-read');
      expect(await fs.readdir(dir)).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
