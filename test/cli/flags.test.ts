/**
 * The command-line tools' flags, parsed without starting a process: every bad flag is a
 * UsageError that names it, and runCli turns it into exit code 2.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError, runCli } from '../../cli/args.ts';
import { BATCH_USAGE, COMPARE_USAGE, GENERATE_USAGE, parseBatchFlags, parseCompareFlags, parseGenerateFlags } from '../../cli/flags.ts';
import { TRAFFIC_DEFAULTS } from '../../shared/tools/traffic-generator.ts';

function usageError(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as UsageError).message;
  }
  throw new Error('expected a UsageError');
}

describe('npm run generate flags', () => {
  it('defaults every option', () => {
    expect(parseGenerateFlags([])).toEqual({
      help: false, rate: 1000, pages: TRAFFIC_DEFAULTS.pages, visitors: TRAFFIC_DEFAULTS.visitors, seed: TRAFFIC_DEFAULTS.seed, durationMs: 10_000,
    });
  });

  it('reads every option', () => {
    expect(parseGenerateFlags(['--rate', '400', '--pages', '50', '--visitors', '9', '--seed', '7', '--duration', '1.5s', '--site', 'shop'])).toEqual({
      help: false, rate: 400, pages: 50, visitors: 9, seed: 7, durationMs: 1500, site: 'shop',
    });
    expect(parseGenerateFlags(['--duration', '500ms'])).toMatchObject({ durationMs: 500 });
    expect(parseGenerateFlags(['--duration', '2m'])).toMatchObject({ durationMs: 120_000 });
    expect(parseGenerateFlags(['--duration', '1h'])).toMatchObject({ durationMs: 3_600_000 });
    expect(parseGenerateFlags(['-h'])).toEqual({ help: true });
  });

  it.each([
    [['--rate', 'fast'], '--rate must be a whole number from 1 to 10000000, got "fast"'],
    [['--rate', '0'], '--rate must be a whole number from 1'],
    [['--rate', '10000001'], '--rate must be a whole number from 1 to 10000000'],
    [['--pages=-3'], '--pages must be a whole number'],
    [['--pages', '-3'], "Option '--pages' argument is ambiguous"],
    [['--seed', '4294967296'], '--seed must be a whole number from 1 to 4294967295'],
    [['--duration', 'forever'], '--duration must be a duration such as 500ms, 60s, 5m or 1h'],
    [['--duration', '0s'], '--duration must be positive'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['extra'], "Unexpected argument 'extra'"],
  ])('rejects %j naming the flag', (args, message) => {
    expect(usageError(() => parseGenerateFlags(args))).toContain(message);
  });

  it('an unknown flag error carries the usage', () => {
    expect(usageError(() => parseGenerateFlags(['--bogus']))).toContain(GENERATE_USAGE);
  });
});

describe('npm run batch flags', () => {
  it('reads --now, --cutoff, --full and --dry-run', () => {
    expect(parseBatchFlags(['--now'])).toEqual({ help: false, dryRun: false, full: false });
    expect(parseBatchFlags(['--now', '--full', '--cutoff', '2026-01-01T03:00:00Z'])).toEqual({ help: false, dryRun: false, full: true, cutoffTime: Date.UTC(2026, 0, 1, 3) });
    expect(parseBatchFlags(['--dry-run', '--cutoff', String(Date.UTC(2026, 0, 2))])).toEqual({ help: false, dryRun: true, full: false, cutoffTime: Date.UTC(2026, 0, 2) });
    expect(parseBatchFlags(['--help'])).toEqual({ help: true });
  });

  it.each([
    [['--now', '--cutoff', 'tomorrow'], '--cutoff must be epoch ms or an ISO-8601 date-time'],
    [['--now', '--cutoff'], "Option '--cutoff <value>' argument missing"],
    [['--later'], "Unknown option '--later'"],
    [[], 'say --now to run a batch recompute, or --dry-run to see its plan'],
    [['--full'], 'say --now'],
  ])('rejects %j naming the flag', (args, message) => {
    const error = usageError(() => parseBatchFlags(args));
    expect(error).toContain(message);
  });

  it('a missing --now shows the usage', () => {
    expect(usageError(() => parseBatchFlags([]))).toContain(BATCH_USAGE);
  });
});

describe('npm run compare flags', () => {
  const range = ['--from', '2026-11-01T00:00:00Z', '--to', '2026-11-02T00:00:00Z'];

  it('reads the range, the page, the site, the interval and --json', () => {
    expect(parseCompareFlags(range)).toEqual({ help: false, from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 10, 2), interval: 'hour', site: 'default', json: false });
    expect(parseCompareFlags([...range, '--page', '/pricing', '--site', 'shop', '--interval', 'day', '--json'])).toEqual({
      help: false, from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 10, 2), interval: 'day', site: 'shop', page: '/pricing', json: true,
    });
    expect(parseCompareFlags(['-h'])).toEqual({ help: true });
  });

  it.each([
    [['--to', '2026-11-02T00:00:00Z'], '--from is required'],
    [['--from', '2026-11-02T00:00:00Z'], '--to is required'],
    [['--from', 'yesterday', '--to', '2026-11-02T00:00:00Z'], '--from must be epoch ms or an ISO-8601 date-time'],
    [['--from', '2026-11-02T00:00:00Z', '--to', '2026-11-01T00:00:00Z'], '--from must be before --to'],
    [[...range, '--interval', 'week'], '--interval must be hour or day'],
    [[...range, '--page', 'pricing'], "--page must be a path starting with '/'"],
    [[...range, '--json=yes'], "Option '--json' does not take an argument"],
  ])('rejects %j naming the flag', (args, message) => {
    expect(usageError(() => parseCompareFlags(args))).toContain(message);
  });

  it('a missing range shows the usage', () => {
    expect(usageError(() => parseCompareFlags([]))).toContain(COMPARE_USAGE);
  });
});

describe('runCli', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ['a usage error', () => Promise.reject(new UsageError('--x is bad')), 2, 'error: --x is bad'],
    ['any other error', () => Promise.reject(new Error('broker down')), 1, 'error: broker down'],
    ['success', () => Promise.resolve(), 0, null],
    ['a code of its own', () => Promise.resolve(3), 3, null],
  ] as const)('exits on %s with its code and message', async (_name, main, code, message) => {
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const exits: number[] = [];
    await runCli(main, (c) => exits.push(c));
    expect(exits).toEqual([code]);
    expect(stderr.mock.calls.map((c) => c.join(' '))).toEqual(message === null ? [] : [message]);
  });
});
