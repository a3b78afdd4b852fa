/**
 * The flags of each command-line tool, parsed into typed options without side effects, so
 * they are tested directly (test/cli/flags.test.ts). Every bad flag is a UsageError naming it.
 */
import { parseTimeText } from '../shared/core/page-view.ts';
import { TRAFFIC_DEFAULTS } from '../shared/tools/traffic-generator.ts';
import { UsageError, duration, parseFlags, positiveInt } from './args.ts';

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
      rate: { type: 'string' },
      pages: { type: 'string' },
      visitors: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      site: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    GENERATE_USAGE,
  );
  if (flags['help'] === true) return { help: true };
  return {
    help: false,
    rate: positiveInt('rate', flags['rate'], 1000, 10_000_000),
    pages: positiveInt('pages', flags['pages'], TRAFFIC_DEFAULTS.pages, 100_000_000),
    visitors: positiveInt('visitors', flags['visitors'], TRAFFIC_DEFAULTS.visitors, 1_000_000_000),
    seed: positiveInt('seed', flags['seed'], TRAFFIC_DEFAULTS.seed, 2 ** 32 - 1),
    durationMs: duration('duration', flags['duration']) ?? 10_000,
    ...(typeof flags['site'] === 'string' ? { site: flags['site'] } : {}),
  };
}

export const BATCH_USAGE = `usage: npm run batch -- --now [--cutoff ISO-8601] [--full] [--dry-run]
  --now      run one batch recompute now and exit
  --cutoff   exclusive cutoff time, on a UTC hour (default: start of the current UTC day)
  --full     rebuild the raw copy from the log's first offset (e.g. after a change of metric logic)
  --dry-run  print what the run would read and cover, and change nothing`;

export interface BatchFlags {
  help: false;
  dryRun: boolean;
  full: boolean;
  cutoffTime?: number;
}

export function parseBatchFlags(argv: string[]): BatchFlags | HelpRequest {
  const flags = parseFlags(
    argv,
    {
      now: { type: 'boolean' },
      cutoff: { type: 'string' },
      full: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    BATCH_USAGE,
  );
  if (flags['help'] === true) return { help: true };
  const dryRun = flags['dry-run'] === true;
  if (flags['now'] !== true && !dryRun) throw new UsageError(`say --now to run a batch recompute, or --dry-run to see its plan\n\n${BATCH_USAGE}`);
  const out: BatchFlags = { help: false, dryRun, full: flags['full'] === true };
  if (typeof flags['cutoff'] === 'string') {
    const parsed = parseTimeText(flags['cutoff']);
    if (typeof parsed === 'string') throw new UsageError(`--cutoff ${parsed}`);
    out.cutoffTime = parsed;
  }
  return out;
}

export const COMPARE_USAGE = `usage: npm run compare -- --from ISO --to ISO [--page PATH] [--site ID] [--interval hour|day] [--json]
  --from, --to   the range (ISO-8601 with a zone, or epoch ms); only buckets before the batch boundary compare
  --page         one page (its path); default: the whole site
  --interval     bucket width, hour (default) or day
  --json         print JSON instead of a table`;

export interface CompareFlags {
  help: false;
  from: number;
  to: number;
  interval: 'hour' | 'day';
  site: string;
  page?: string;
  json: boolean;
}

function requiredTime(name: string, raw: string | boolean | undefined): number {
  if (typeof raw !== 'string') throw new UsageError(`--${name} is required\n\n${COMPARE_USAGE}`);
  const parsed = parseTimeText(raw);
  if (typeof parsed === 'string') throw new UsageError(`--${name} ${parsed}`);
  return parsed;
}

export function parseCompareFlags(argv: string[]): CompareFlags | HelpRequest {
  const flags = parseFlags(
    argv,
    {
      from: { type: 'string' },
      to: { type: 'string' },
      page: { type: 'string' },
      site: { type: 'string' },
      interval: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    COMPARE_USAGE,
  );
  if (flags['help'] === true) return { help: true };
  const from = requiredTime('from', flags['from']);
  const to = requiredTime('to', flags['to']);
  if (from >= to) throw new UsageError('--from must be before --to');
  const interval = flags['interval'] ?? 'hour';
  if (interval !== 'hour' && interval !== 'day') throw new UsageError('--interval must be hour or day');
  const page = flags['page'];
  if (page !== undefined && (typeof page !== 'string' || !page.startsWith('/'))) throw new UsageError("--page must be a path starting with '/'");
  return {
    help: false,
    from,
    to,
    interval,
    site: typeof flags['site'] === 'string' ? flags['site'] : 'default',
    ...(page === undefined ? {} : { page }),
    json: flags['json'] === true,
  };
}
