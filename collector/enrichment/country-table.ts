/**
 * The country of every IPv4 address, in memory: fast-geoip's bundled GeoLite ranges reduced to
 * country only, adjacent ranges of the same country merged (3.5M ranges → ~230k runs, ~1.2 MB).
 * A lookup is a binary search over a Uint32Array; no file is read after the build.
 *
 * The build reads and parses fast-geoip's ~3,100 data files (about 1.6 s of CPU), so it runs
 * in a worker thread (country-table-worker.mjs), never on the event loop: the typed arrays'
 * buffers are transferred back. One table per process ({@link sharedCountryTable}), built on
 * first use; a build that fails (files missing, layout changed, timeout) rejects, and is not
 * retried.
 *
 * The table answers exactly what fast-geoip's `lookup(ip).country` answers (when that is an ISO
 * code), gaps and addresses before its first range included: no country. It does not filter
 * special-purpose addresses; CountryLookup does.
 */

import { Worker } from 'node:worker_threads';

/** What the worker posts. */
type WorkerMessage =
  | { ok: true; starts: Uint32Array; countries: Uint8Array | Uint16Array; codes: string[]; sourceRanges: number; buildMs: number }
  | { ok: false; error: string };

const COUNTRY_RE = /^[A-Z]{2}$/;

/** How the table was built. */
export interface CountryTableBuild {
  /** Ranges read from fast-geoip's files (before merging). */
  sourceRanges: number;
  /** Time the worker spent building, ms (reading and parsing the files). */
  buildMs: number;
}

export class CountryTable {
  /** Ranges (runs of one country, or of none). */
  readonly size: number;

  /**
   * `starts[i]`: the first address of range i (ascending, `starts[0]` = 0); range i ends where
   * range i + 1 starts. `countries[i]`: its index in `codes`, where `codes[0]` is '' (no country).
   * Throws a RangeError when the arrays do not form such a table.
   */
  constructor(
    private readonly starts: Uint32Array,
    private readonly countries: Uint8Array | Uint16Array,
    private readonly codes: readonly string[],
    readonly build: CountryTableBuild = { sourceRanges: 0, buildMs: 0 },
  ) {
    if (starts.length === 0 || starts.length !== countries.length || starts[0] !== 0) throw new RangeError('country table: starts and countries must have the same, non-zero length, starting at 0');
    if (codes[0] !== '' || !codes.slice(1).every((c) => COUNTRY_RE.test(c))) throw new RangeError("country table: codes must be '' then ISO 3166-1 alpha-2 codes");
    // One plain indexed loop: this runs once, on the event loop, before the JIT has seen it.
    const n = starts.length;
    const codeCount = codes.length;
    let previous = -1;
    for (let i = 0; i < n; i++) {
      const start = starts[i] as number;
      if (start <= previous) throw new RangeError(`country table: starts not ascending at ${i}`);
      if ((countries[i] as number) >= codeCount) throw new RangeError(`country table: country index ${countries[i]} out of range`);
      previous = start;
    }
    this.size = n;
  }

  /** The country of an IPv4 address (as a number), or undefined. */
  country(ip: number): string | undefined {
    const c = this.countries[this.rangeOf(ip)] as number;
    return c === 0 ? undefined : this.codes[c];
  }

  /** The index of the range holding `ip`. */
  rangeOf(ip: number): number {
    const starts = this.starts;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if ((starts[mid] as number) <= ip) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /** Range i: `[start, end)` and its country (undefined: none). */
  range(i: number): { start: number; end: number; country: string | undefined } {
    const c = this.countries[i] as number;
    return { start: this.starts[i] as number, end: i + 1 < this.size ? (this.starts[i + 1] as number) : 2 ** 32, country: c === 0 ? undefined : this.codes[c] };
  }

  /** Bytes held by the typed arrays (the codes table adds a few KB). */
  get byteLength(): number {
    return this.starts.byteLength + this.countries.byteLength;
  }
}

export interface CountryTableLoadOptions {
  /** fast-geoip's data directory. @default the installed package's `data/` */
  dataDir?: string | undefined;
  /** Give up (and stop the worker) after this long, ms. @default 60000 */
  timeoutMs?: number | undefined;
}

export const COUNTRY_TABLE_LOAD_DEFAULTS = { timeoutMs: 60_000 } as const;

const WORKER_URL = new URL('./country-table-worker.mjs', import.meta.url);

/** Builds a table in a new worker thread. Rejects (never throws) when the build fails or times out. */
export function loadCountryTable(options: CountryTableLoadOptions = {}): Promise<CountryTable> {
  const timeoutMs = options.timeoutMs ?? COUNTRY_TABLE_LOAD_DEFAULTS.timeoutMs;
  return new Promise<CountryTable>((resolve, reject) => {
    let worker: Worker;
    try {
      // No execArgv: the worker is plain JavaScript and needs no loader (nor the parent's flags).
      worker = new Worker(WORKER_URL, { workerData: { dataDir: options.dataDir }, execArgv: [], stdout: false, stderr: false });
    } catch (err) {
      reject(new Error('country table: cannot start the worker', { cause: err }));
      return;
    }
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
      void worker.terminate();
    };
    const timer = setTimeout(() => settle(() => reject(new Error(`country table: build took longer than ${timeoutMs} ms`))), timeoutMs);
    timer.unref();
    worker.once('message', (message: WorkerMessage) => {
      settle(() => {
        if (!message.ok) return reject(new Error(`country table: ${message.error}`));
        try {
          resolve(new CountryTable(message.starts, message.countries, message.codes, { sourceRanges: message.sourceRanges, buildMs: message.buildMs }));
        } catch (err) {
          reject(err);
        }
      });
    });
    worker.once('error', (err) => settle(() => reject(new Error('country table: the worker failed', { cause: err }))));
    worker.once('exit', (code) => settle(() => reject(new Error(`country table: the worker exited (code ${code}) without a table`))));
  });
}

let shared: Promise<CountryTable> | undefined;

/** The process's table, shared by every CountryLookup: built on the first call, then the same promise. */
export function sharedCountryTable(): Promise<CountryTable> {
  shared ??= loadCountryTable();
  return shared;
}
