/**
 * The flags of each command-line tool, parsed into typed options without side effects, so
 * they are tested directly (test/cli/flags.test.ts). Every bad flag is a UsageError whose first
 * line names it and gives an accepted example (`e.g. --interval day`).
 */
import { cutoffProblem, hourText, lastFullHour } from '../batch-layer/index.ts';
import { PAGE_VIEW_LIMITS, SITE_PATTERN, parseTimeText } from '../shared/core/page-view.ts';
import { bucketStart } from '../shared/core/time-buckets.ts';
import { TRAFFIC_DEFAULTS } from '../shared/tools/traffic-generator.ts';
import { UsageError, duration, example, parseFlags, positiveInt } from './args.ts';

const DAY_MS = 86_400_000;

/** A time flag: epoch ms or ISO-8601 with a zone; `instead` is the example offered when it is not. */
function timeFlag(name: string, raw: string, instead: number): number {
  const parsed = parseTimeText(raw);
  // Epoch ms beyond what a Date holds (±8.64e15) is no time either.
  if (typeof parsed === 'string' || Number.isNaN(new Date(parsed).getTime())) {
    throw new UsageError(`--${name} must be epoch ms or an ISO-8601 date-time with a zone, got ${JSON.stringify(raw)}; ${example(name, hourText(instead))}`);
  }
  return parsed;
}

/** A site id, as events and the API take it. */
function siteFlag(raw: string | boolean | undefined): string | undefined {
  if (typeof raw !== 'string') return undefined;
  if (raw.length > PAGE_VIEW_LIMITS.siteMaxLength || !SITE_PATTERN.test(raw)) {
    throw new UsageError(
      `--site must be a site id (letters, digits, '.', '_' or '-', starting with a letter or digit, at most ${PAGE_VIEW_LIMITS.siteMaxLength} characters), ` +
        `got ${JSON.stringify(raw)}; ${example('site', 'shop')}`,
    );
  }
  return raw;
}

/** `--help` was asked for: print the usage and exit 0. */
export interface HelpRequest {
  help: true;
}

export const GENERATE_USAGE = `usage: npm run generate -- [--rate N] [--pages N] [--visitors N] [--duration 60s] [--seed N] [--site ID]
  --rate      events per second (default 1000)
  --pages     distinct pages, Zipf-popular (default ${TRAFFIC_DEFAULTS.pages})
  --visitors  distinct visitors, returning (default ${TRAFFIC_DEFAULTS.visitors})
  --duration  how long: 500ms, 60s, 5m, 1h (default 10s)
  --seed      PRNG seed; the same seed gives the same events (default ${TRAFFIC_DEFAULTS.seed})
  --site      site id of the events (default ${TRAFFIC_DEFAULTS.site})`;

export interface GenerateFlags {
  help: false;
  rate: number;
  pages: number;
  visitors: number;
  seed: number;
  durationMs: number;
  site?: string;
}

export function parseGenerateFlags(argv: string[]): GenerateFlags | HelpRequest {
  const flags = parseFlags(
    argv,
    {
      rate: { type: 'string', example: '1000' },
      pages: { type: 'string', example: String(TRAFFIC_DEFAULTS.pages) },
      visitors: { type: 'string', example: String(TRAFFIC_DEFAULTS.visitors) },
      duration: { type: 'string', example: '60s' },
      seed: { type: 'string', example: String(TRAFFIC_DEFAULTS.seed) },
      site: { type: 'string', example: 'shop' },
      help: { type: 'boolean', short: 'h' },
    },
    GENERATE_USAGE,
  );
  const site = siteFlag(flags['site']);
  if (flags['help'] === true) return { help: true };
  return {
    help: false,
    rate: positiveInt('rate', flags['rate'], 1000, 10_000_000),
    pages: positiveInt('pages', flags['pages'], TRAFFIC_DEFAULTS.pages, 100_000_000),
    visitors: positiveInt('visitors', flags['visitors'], TRAFFIC_DEFAULTS.visitors, 1_000_000_000),
    seed: positiveInt('seed', flags['seed'], TRAFFIC_DEFAULTS.seed, 2 ** 32 - 1),
    durationMs: duration('duration', flags['duration']) ?? 10_000,
    ...(site === undefined ? {} : { site }),
  };
}

export const BATCH_USAGE = `usage: npm run batch -- --now [--cutoff ISO-8601] [--full] [--dry-run]
  --now      run now, exact through the start of the current UTC hour (the last full hour) unless --cutoff is given
  --cutoff   exclusive cutoff time: on a UTC hour, not in the future (e.g. --cutoff 2026-11-28T12:00:00Z)
  --full     rebuild the raw copy from the log's first offset (e.g. after a change of metric logic)
  --dry-run  print what the run would read and cover, and change nothing`;

export interface BatchFlags {
  help: false;
  dryRun: boolean;
  full: boolean;
  cutoffTime?: number;
}

/** `now` (default the clock) is when the cutoff must not be after. */
export function parseBatchFlags(argv: string[], now: number = Date.now()): BatchFlags | HelpRequest {
  const currentHour = lastFullHour(now);
  const flags = parseFlags(
    argv,
    {
      now: { type: 'boolean' },
      cutoff: { type: 'string', example: hourText(currentHour) },
      full: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    BATCH_USAGE,
  );
  if (flags['help'] === true) return { help: true };
  const dryRun = flags['dry-run'] === true;
  if (flags['now'] !== true && !dryRun) {
    throw new UsageError(`say --now to run a batch recompute (or --dry-run to see its plan); ${example('now')}\n\n${BATCH_USAGE}`);
  }
  const out: BatchFlags = { help: false, dryRun, full: flags['full'] === true };
  if (typeof flags['cutoff'] === 'string') {
    const cutoffTime = timeFlag('cutoff', flags['cutoff'], currentHour);
    const refused = cutoffProblem(cutoffTime, now);
    if (refused?.problem === 'off-hour') {
      throw new UsageError(
        `--cutoff must be on a UTC hour (the batch views are built per hour): ${new Date(cutoffTime).toISOString()} is not; ` +
          `${example('cutoff', hourText(refused.lastFullHour))}, the last full hour before it`,
      );
    }
    if (refused?.problem === 'future') {
      throw new UsageError(
        `--cutoff ${new Date(cutoffTime).toISOString()} is in the future; ${example('cutoff', hourText(refused.lastFullHour))}, the start of the current UTC hour`,
      );
    }
    out.cutoffTime = cutoffTime;
  }
  return out;
}

export const COMPARE_USAGE = `usage: npm run compare -- [--from ISO] [--to ISO] [--page PATH] [--site ID] [--interval hour|day] [--json]
  --from, --to   the range (ISO-8601 with a zone, or epoch ms; default: the last 7 days, as GET /api/v1/compare;
                 --from alone: up to now); only buckets before the batch boundary compare
  --page         one page (its path); default: the whole site
  --site         site id (default: default)
  --interval     bucket width, hour (default) or day
  --json         print JSON instead of a table`;

export interface CompareFlags {
  help: false;
  /** Unset with `to`: the caller's default range (the last 7 days, as GET /api/v1/compare). */
  from: number | undefined;
  /** Unset: up to now (with `from`), or the default range (without). */
  to: number | undefined;
  interval: 'hour' | 'day';
  site: string;
  page?: string;
  json: boolean;
}

/** `now` (default the clock) dates the examples of --from and --to. */
export function parseCompareFlags(argv: string[], now: number = Date.now()): CompareFlags | HelpRequest {
  const today = bucketStart(now, 'day');
  const flags = parseFlags(
    argv,
    {
      from: { type: 'string', example: hourText(today - 7 * DAY_MS) },
      to: { type: 'string', example: hourText(today) },
      page: { type: 'string', example: '/pricing' },
      site: { type: 'string', example: 'shop' },
      interval: { type: 'string', example: 'day' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    COMPARE_USAGE,
  );
  if (flags['help'] === true) return { help: true };
  const to = typeof flags['to'] === 'string' ? timeFlag('to', flags['to'], today) : undefined;
  /** The start of the 7 days before `to`: a --from that goes with it. */
  const fromBefore = (end: number): number => bucketStart(end - 1, 'day') - 6 * DAY_MS;
  const from = typeof flags['from'] === 'string' ? timeFlag('from', flags['from'], fromBefore(to ?? today)) : undefined;
  if (to !== undefined && from === undefined) {
    throw new UsageError(`--to needs --from (the start of the range); ${example('from', hourText(fromBefore(to)))}`);
  }
  if (from !== undefined && to !== undefined && from >= to) {
    throw new UsageError(
      `--from must be before --to: ${new Date(from).toISOString()} is not before ${new Date(to).toISOString()}; ${example('from', hourText(fromBefore(to)))}`,
    );
  }
  const interval = flags['interval'] ?? 'hour';
  if (interval !== 'hour' && interval !== 'day') throw new UsageError(`--interval must be hour or day, got ${JSON.stringify(interval)}; ${example('interval', 'day')}`);
  const page = flags['page'];
  if (page !== undefined && (typeof page !== 'string' || !page.startsWith('/'))) {
    throw new UsageError(`--page must be a path starting with '/', got ${JSON.stringify(page)}; ${example('page', '/pricing')}`);
  }
  return {
    help: false,
    from,
    to,
    interval,
    site: siteFlag(flags['site']) ?? 'default',
    ...(page === undefined ? {} : { page }),
    json: flags['json'] === true,
  };
}
