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
    [['--rate', 'fast'], '--rate must be a whole number from 1 to 10000000, got "fast"; e.g. --rate 1000'],
    [['--rate', '0'], '--rate must be a whole number from 1'],
    [['--rate', '10000001'], '--rate must be a whole number from 1 to 10000000'],
    [['--pages=-3'], '--pages must be a whole number'],
    [['--pages', '-3'], '--pages needs a value ("-3" looks like a flag; write --pages=-3 if it is the value)'],
    [['--seed', '4294967296'], '--seed must be a whole number from 1 to 4294967295'],
    [['--duration', 'forever'], '--duration must be a duration such as 500ms, 60s, 5m or 1h'],
    [['--duration', '0s'], '--duration must be positive'],
    [['--site', 'a b'], '--site must be a site id'],
    [['--bogus'], 'unknown flag --bogus; the flags are --rate, --pages, --visitors, --duration, --seed, --site, --help; e.g. --rate 1000'],
    [['--durations', '5s'], 'unknown flag --durations; the flags are --rate, --pages, --visitors, --duration, --seed, --site, --help; e.g. --duration 60s'],
    [['extra'], 'unexpected argument "extra": flags start with --; the flags are --rate,'],
  ])('rejects %j naming the flag', (args, message) => {
    expect(usageError(() => parseGenerateFlags(args))).toContain(message);
  });

  it('an unknown flag error carries the usage', () => {
    expect(usageError(() => parseGenerateFlags(['--bogus']))).toContain(GENERATE_USAGE);
  });
});

describe('npm run batch flags', () => {
  const now = Date.UTC(2026, 11, 2, 13, 21);

  it('reads --now, --cutoff, --full and --dry-run', () => {
    expect(parseBatchFlags(['--now'], now)).toEqual({ help: false, dryRun: false, full: false });
    expect(parseBatchFlags(['--now', '--full', '--cutoff', '2026-01-01T03:00:00Z'], now)).toEqual({ help: false, dryRun: false, full: true, cutoffTime: Date.UTC(2026, 0, 1, 3) });
    expect(parseBatchFlags(['--dry-run', '--cutoff', String(Date.UTC(2026, 0, 2))], now)).toEqual({ help: false, dryRun: true, full: false, cutoffTime: Date.UTC(2026, 0, 2) });
    expect(parseBatchFlags(['--now', '--cutoff', '2026-12-02T13:00:00Z'], now)).toMatchObject({ cutoffTime: Date.UTC(2026, 11, 2, 13) });
    expect(parseBatchFlags(['--help'], now)).toEqual({ help: true });
  });

  it.each([
    [['--now', '--cutoff', 'tomorrow'], '--cutoff must be epoch ms or an ISO-8601 date-time with a zone, got "tomorrow"; e.g. --cutoff 2026-12-02T13:00:00Z'],
    [['--now', '--cutoff'], '--cutoff needs a value; e.g. --cutoff 2026-12-02T13:00:00Z'],
    [['--now', '--cutoff', '2026-12-02T13:20:00Z'],
      '--cutoff must be on a UTC hour (the batch views are built per hour): 2026-12-02T13:20:00.000Z is not; e.g. --cutoff 2026-12-02T13:00:00Z, the last full hour before it'],
    [['--now', '--cutoff', '2026-12-03T00:00:00Z'], '--cutoff 2026-12-03T00:00:00.000Z is in the future; e.g. --cutoff 2026-12-02T13:00:00Z, the start of the current UTC hour'],
    [['--now', '--cutoff', '2026-12-02T14:30:00Z'], '--cutoff 2026-12-02T14:30:00.000Z is in the future; e.g. --cutoff 2026-12-02T13:00:00Z'],
    [['--later'], 'unknown flag --later; the flags are --now, --cutoff, --full, --dry-run, --help; e.g. --now'],
    [['--now', 'yes'], '--now takes no value, got "yes"; e.g. --now'],
    [[], 'say --now to run a batch recompute (or --dry-run to see its plan); e.g. --now'],
    [['--full'], 'say --now'],
  ])('rejects %j naming the flag', (args, message) => {
    const error = usageError(() => parseBatchFlags(args, now));
    expect(error).toContain(message);
  });

  it('a missing --now shows the usage', () => {
    expect(usageError(() => parseBatchFlags([], now))).toContain(BATCH_USAGE);
  });
});

describe('npm run compare flags', () => {
  const range = ['--from', '2026-11-01T00:00:00Z', '--to', '2026-11-02T00:00:00Z'];
  const now = Date.UTC(2026, 11, 2, 13, 21);

  it('reads the range, the page, the site, the interval and --json', () => {
    expect(parseCompareFlags(range)).toEqual({ help: false, from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 10, 2), interval: 'hour', site: 'default', json: false });
    expect(parseCompareFlags([...range, '--page', '/pricing', '--site', 'shop', '--interval', 'day', '--json'])).toEqual({
      help: false, from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 10, 2), interval: 'day', site: 'shop', page: '/pricing', json: true,
    });
    expect(parseCompareFlags(['-h'])).toEqual({ help: true });
  });

  it('leaves the range to the caller when neither --from nor --to is given, and --to to it when only --from is', () => {
    expect(parseCompareFlags([])).toEqual({ help: false, from: undefined, to: undefined, interval: 'hour', site: 'default', json: false });
    expect(parseCompareFlags(['--from', '2026-11-01T00:00:00Z'])).toMatchObject({ from: Date.UTC(2026, 10, 1), to: undefined });
  });

  it.each([
    [['--to', '2026-11-02T00:00:00Z'], '--to needs --from (the start of the range); e.g. --from 2026-10-26T00:00:00Z'],
    [['--from', 'yesterday', '--to', '2026-11-02T00:00:00Z'], '--from must be epoch ms or an ISO-8601 date-time with a zone, got "yesterday"; e.g. --from 2026-10-26T00:00:00Z'],
    [['--from', '2026-11-02T00:00:00Z', '--to', '2026-11-01T00:00:00Z'],
      '--from must be before --to: 2026-11-02T00:00:00.000Z is not before 2026-11-01T00:00:00.000Z; e.g. --from 2026-10-25T00:00:00Z'],
    [[...range, '--interval', 'week'], '--interval must be hour or day, got "week"; e.g. --interval day'],
    [[...range, '--page', 'pricing'], "--page must be a path starting with '/', got \"pricing\"; e.g. --page /pricing"],
    [[...range, '--json=yes'], '--json takes no value, got "yes"; e.g. --json'],
  ])('rejects %j naming the flag', (args, message) => {
    expect(usageError(() => parseCompareFlags(args, now))).toContain(message);
  });

  it('an unknown flag shows the usage', () => {
    expect(usageError(() => parseCompareFlags(['--form', '2026-11-01T00:00:00Z']))).toContain(COMPARE_USAGE);
  });
});

describe('every refusal of a flag', () => {
  const now = Date.UTC(2026, 11, 2, 13, 21);
  const parsers: Record<string, (argv: string[]) => unknown> = {
    generate: (argv) => parseGenerateFlags(argv),
    batch: (argv) => parseBatchFlags(argv, now),
    compare: (argv) => parseCompareFlags(argv, now),
  };
  const from = '2026-11-01T00:00:00Z';
  const to = '2026-11-02T00:00:00Z';

  // [tool, arguments refused, what the first line names, the flag of its example, the arguments left once the refused part is taken out]
  it.each([
    ['generate', ['--rate', 'fast'], '--rate', 'rate', []],
    ['generate', ['--rate', '0'], '--rate', 'rate', []],
    ['generate', ['--pages', '0'], '--pages', 'pages', []],
    ['generate', ['--visitors', 'many'], '--visitors', 'visitors', []],
    ['generate', ['--seed', '4294967296'], '--seed', 'seed', []],
    ['generate', ['--duration', 'forever'], '--duration', 'duration', []],
    ['generate', ['--duration', '0s'], '--duration', 'duration', []],
    ['generate', ['--site', 'a b'], '--site', 'site', []],
    ['generate', ['--rate'], '--rate', 'rate', []],
    ['generate', ['--pages', '-3'], '--pages', 'pages', []],
    ['generate', ['--help=yes'], '--help', 'help', []],
    ['generate', ['--bogus'], '--bogus', 'rate', []],
    ['generate', ['--durations', '5s'], '--durations', 'duration', []],
    ['generate', ['-x'], '-x', 'rate', []],
    ['generate', ['extra'], '"extra"', 'rate', []],
    ['batch', [], '--now', 'now', []],
    ['batch', ['--full'], '--now', 'now', ['--full']],
    ['batch', ['--now', '--cutoff', 'tomorrow'], '--cutoff', 'cutoff', ['--now']],
    ['batch', ['--now', '--cutoff'], '--cutoff', 'cutoff', ['--now']],
    ['batch', ['--now', '--cutoff', '--full'], '--cutoff', 'cutoff', ['--now', '--full']],
    ['batch', ['--now', '--cutoff', '2026-12-02T13:20:00Z'], '--cutoff', 'cutoff', ['--now']],
    ['batch', ['--now', '--cutoff', '2026-12-02T12:59:59.999Z'], '--cutoff', 'cutoff', ['--now']],
    ['batch', ['--now', '--cutoff', '2026-12-03T00:00:00Z'], '--cutoff', 'cutoff', ['--now']],
    ['batch', ['--now', '--cutoff', '2026-12-02T14:30:00Z'], '--cutoff', 'cutoff', ['--now']],
    ['batch', ['--now', '--cutoff', '9999999999999999'], '--cutoff', 'cutoff', ['--now']],
    ['batch', ['--now=yes'], '--now', 'now', []],
    ['batch', ['--now', 'yes'], '--now', 'now', []],
    ['batch', ['--later'], '--later', 'now', []],
    ['batch', ['--dry-run', '--cutof', '2026-12-02T13:00:00Z'], '--cutof', 'cutoff', ['--dry-run']],
    ['batch', ['now'], '"now"', 'now', []],
    ['compare', ['--to', to], '--to', 'from', ['--to', to]],
    ['compare', ['--from', 'yesterday'], '--from', 'from', []],
    ['compare', ['--from', 'yesterday', '--to', to], '--from', 'from', ['--to', to]],
    ['compare', ['--from', from, '--to', 'soon'], '--to', 'to', ['--from', from]],
    ['compare', ['--from', to, '--to', from], '--from', 'from', ['--to', from]],
    ['compare', ['--from', to, '--to', to], '--from', 'from', ['--to', to]],
    ['compare', ['--from'], '--from', 'from', []],
    ['compare', ['--from', from, '--to'], '--to', 'to', ['--from', from]],
    ['compare', ['--interval', 'week'], '--interval', 'interval', []],
    ['compare', ['--interval'], '--interval', 'interval', []],
    ['compare', ['--page', 'pricing'], '--page', 'page', []],
    ['compare', ['--site', '-shop'], '--site', 'site', []],
    ['compare', ['--site=-shop'], '--site', 'site', []],
    ['compare', ['--json=yes'], '--json', 'json', []],
    ['compare', ['--json', 'yes'], '--json', 'json', []],
    ['compare', ['--form', from], '--form', 'from', []],
    // --to alone needs --from: the example is accepted with the --from given.
    ['compare', ['today'], '"today"', 'to', ['--from', from]],
  ] as const)('npm run %s %j names %s and gives an example the parser accepts', (tool, args, named, flag, rest) => {
    const parse = parsers[tool] ?? (() => undefined);
    const [first = ''] = usageError(() => parse([...args])).split('\n');
    expect(first).toContain(named);
    const match = new RegExp(`e\\.g\\. --${flag}(?: ([^\\s,;]+))?(?=[,;]|$)`).exec(first);
    expect(match, first).not.toBeNull();
    const exampleArgs = [`--${flag}`, ...(match?.[1] === undefined ? [] : [match[1]])];
    expect(() => parse([...rest, ...exampleArgs]), `${first}\n${JSON.stringify([...rest, ...exampleArgs])}`).not.toThrow();
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
