/** Parsing of CLI flags shared by the command-line tools: every bad flag is a clear error naming it. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Flags = Record<string, string | boolean | undefined>;

export function parseFlags(argv: string[], options: NonNullable<ParseArgsConfig['options']>, usage: string): Flags {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Flags;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
}

export function positiveInt(name: string, raw: string | boolean | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new UsageError(`--${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "500ms", "60s", "5m", "1h"; a bare number is seconds. */
export function duration(name: string, raw: string | boolean | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new UsageError(`--${name} needs a value`);
  const match = DURATION_RE.exec(raw.trim());
  if (match === null) throw new UsageError(`--${name} must be a duration such as 500ms, 60s, 5m or 1h, got ${JSON.stringify(raw)}`);
  const ms = Number(match[1]) * UNIT_MS[(match[2] ?? 's') as keyof typeof UNIT_MS];
  if (ms <= 0) throw new UsageError(`--${name} must be positive`);
  return ms;
}

/**
 * Runs a CLI's main, turning errors into a message on stderr and an exit code: 2 for usage
 * errors, 1 otherwise, main's own code (default 0) on success.
 */
export function runCli(main: () => Promise<number | void>, exit: (code: number) => void = (code) => process.exit(code)): Promise<void> {
  return main().then(
    (code) => exit(code ?? 0),
    (err: unknown) => {
      console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
      exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
