/**
 * `npm run ddl`: its flags (every bad one a UsageError naming it), and the script it prints,
 * run as a process as an operator runs it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../cli/args.ts';
import { DDL_USAGE, parseDdlFlags } from '../../cli/ddl.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function usageError(argv: string[]): string {
  try {
    parseDdlFlags(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).message;
  }
  throw new Error('expected a UsageError');
}

describe('npm run ddl flags', () => {
  it('reads the cluster, and defaults the database to CLICKHOUSE_DATABASE\'s and the migrations to all', () => {
    expect(parseDdlFlags(['--cluster', 'analytics'])).toEqual({ help: false, cluster: 'analytics', database: 'pageviews', afterVersion: 0 });
    expect(parseDdlFlags(['--cluster=c1', '--database', 'pv_prod', '--after', '6'])).toEqual({ help: false, cluster: 'c1', database: 'pv_prod', afterVersion: 6 });
    expect(parseDdlFlags(['-h'])).toEqual({ help: true });
  });

  it.each([
    [[], '--cluster is required; e.g. --cluster analytics'],
    [['--cluster'], '--cluster needs a value; e.g. --cluster analytics'],
    [['--cluster', 'my-cluster'], '--cluster must be a plain name (letters, digits and \'_\', not starting with a digit), got "my-cluster"; e.g. --cluster analytics'],
    [['--cluster', 'c', '--database', 'pv.x'], '--database must be a plain name'],
    [['--cluster', 'c', '--after', 'six'], '--after must be a migration version (a whole number), got "six"; e.g. --after 9'],
    [['--cluster', 'c', '--shards', '2'], 'unknown flag --shards; the flags are --cluster, --database, --after, --help'],
  ])('refuses %j naming the flag', (argv, message) => {
    const text = usageError(argv);
    expect(text).toContain(message);
  });

  it('a missing --cluster carries the usage', () => {
    expect(usageError([])).toContain(DDL_USAGE);
  });
});

describe('npm run ddl', () => {
  it('prints the cluster DDL; a bad flag exits 2 with the reason on stderr', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'cli/ddl.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
    const ok = run('--cluster', 'analytics', '--database', 'pv', '--after', '8');
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^-- Setup \(idempotent\)\nCREATE DATABASE IF NOT EXISTS pv ON CLUSTER analytics;\n/);
    expect(ok.stdout).not.toContain('-- 008_batch_sessions');
    expect(ok.stdout).toContain('-- 009_speed_sessions\nCREATE TABLE IF NOT EXISTS pv.speed_session_minute ON CLUSTER analytics (');
    const bad = run('--cluster', 'a-b');
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^error: --cluster must be a plain name/);
  });
});
