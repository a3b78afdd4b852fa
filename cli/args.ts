/**
 * Parsing of CLI flags shared by the command-line tools. Every refusal is a UsageError whose
 * first line names the flag and gives an accepted example a user can paste (`e.g. --rate 1000`).
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Flags = Record<string, string | boolean | undefined>;

/** A flag a tool takes: a switch, or a flag with a value and an accepted example of it. */
export type FlagSpec = { type: 'boolean'; short?: string } | { type: 'string'; short?: string; example: string };
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** `e.g. --rate 1000`, or `e.g. --json` for a switch: an example a user can paste. */
export function example(name: string, value?: string): string {
  return value === undefined ? `e.g. --${name}` : `e.g. --${name} ${value}`;
}

/** The example of a declared flag. */
function exampleOf(name: string, spec: FlagSpec): string {
  return example(name, spec.type === 'string' ? spec.example : undefined);
}

/** Edit distance, for the flag nearest to an unknown one. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The example of the declared flag `text` is likely a typo of (within 2 edits, or a prefix), else of the first flag. */
function nearestExample(text: string, specs: FlagSpecs): string {
  const names = Object.keys(specs).filter((name) => name !== 'help');
  const close = names
    .map((name) => ({ name, edits: name.startsWith(text) || text.startsWith(name) ? 0 : distance(text, name) }))
    .filter(({ edits }) => edits <= 2)
    .sort((a, b) => a.edits - b.edits)[0];
  const name = close?.name ?? names[0] ?? 'help';
  const spec = specs[name];
  return spec === undefined ? example('help') : exampleOf(name, spec);
}

/**
 * The flags of `argv`, declared in `specs`. An unknown flag, a flag without its value, a value
 * given to a switch, or an argument that is not a flag is a UsageError: one line naming it, the
 * flags there are and an example, then the usage after a blank line.
 */
export function parseFlags(argv: string[], specs: FlagSpecs, usage: string): Flags {
  const refuse = (line: string): never => {
    throw new UsageError(`${line}\n\n${usage}`);
  };
  const flagList = Object.keys(specs).map((name) => `--${name}`).join(', ');
  // Not strict: the tokens are checked here, so every refusal is a message of ours.
  const { tokens } = parseArgs({ args: argv, options: specs, strict: false, allowPositionals: true, tokens: true });
  const values: Flags = {};
  let previous: (typeof tokens)[number] | undefined;
  for (const token of tokens) {
    if (token.kind === 'option') {
      const spec = specs[token.name];
      if (spec === undefined) {
        refuse(`unknown flag ${token.rawName}; the flags are ${flagList}; ${nearestExample(token.name, specs)}`);
      } else if (spec.type === 'boolean') {
        if (token.value !== undefined) refuse(`--${token.name} takes no value, got ${JSON.stringify(token.value)}; ${exampleOf(token.name, spec)}`);
        values[token.name] = true;
      } else if (token.value === undefined) {
        refuse(`--${token.name} needs a value; ${exampleOf(token.name, spec)}`);
      } else if (!token.inlineValue && token.value.startsWith('-')) {
        // The next argument looks like a flag: a forgotten value, or a value starting with '-'.
        refuse(`--${token.name} needs a value (${JSON.stringify(token.value)} looks like a flag; write --${token.name}=${token.value} if it is the value); ${exampleOf(token.name, spec)}`);
      } else {
        values[token.name] = token.value;
      }
    } else if (token.kind === 'positional') {
      const after = previous?.kind === 'option' ? specs[previous.name] : undefined;
      if (previous?.kind === 'option' && after?.type === 'boolean' && previous.value === undefined) {
        refuse(`--${previous.name} takes no value, got ${JSON.stringify(token.value)}; ${exampleOf(previous.name, after)}`);
      }
      refuse(`unexpected argument ${JSON.stringify(token.value)}: flags start with --; the flags are ${flagList}; ${nearestExample(token.value, specs)}`);
    }
    previous = token;
  }
  return values;
}

/** A whole number from 1 to `max`; unset is `fallback`, which is also the example. */
export function positiveInt(name: string, raw: string | boolean | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new UsageError(`--${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}; ${example(name, String(fallback))}`);
  }
  return Number(raw);
}

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "500ms", "60s", "5m", "1h"; a bare number is seconds. */
export function duration(name: string, raw: string | boolean | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new UsageError(`--${name} needs a value; ${example(name, '60s')}`);
  const match = DURATION_RE.exec(raw.trim());
  if (match === null) throw new UsageError(`--${name} must be a duration such as 500ms, 60s, 5m or 1h, got ${JSON.stringify(raw)}; ${example(name, '60s')}`);
  const ms = Number(match[1]) * UNIT_MS[(match[2] ?? 's') as keyof typeof UNIT_MS];
  if (ms <= 0) throw new UsageError(`--${name} must be positive, got ${JSON.stringify(raw)}; ${example(name, '60s')}`);
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
