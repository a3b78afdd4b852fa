/**
 * HTTP load with autocannon (as a library), always against 127.0.0.1 and always bounded: in
 * time (`durationS`) and in count (`maxRequests`).
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  port: number;
  /** Requests cycled through by every connection (built once: no per-request set-up cost). */
  requests: { path: string; method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string> }[];
  connections: number;
  durationS: number;
  /** Upper bound on requests sent, whatever the duration. */
  maxRequests: number;
  /** Fixed offered rate (requests/s over all connections); unset = as fast as answered. */
  overallRate?: number;
  timeoutS?: number;
}

export interface LoadResult {
  /** 2xx answers per second of the run. */
  requestsPerSec: number;
  /** Latency in ms (autocannon's histogram, 2xx and others alike). */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationS: number;
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const opts: autocannon.Options = {
    url: `http://127.0.0.1:${options.port}`,
    connections: options.connections,
    duration: options.durationS,
    maxOverallRequests: Math.max(options.maxRequests, options.connections),
    timeout: options.timeoutS ?? 10,
    requests: options.requests.map((r) => ({
      path: r.path,
      method: r.method ?? 'GET',
      ...(r.body === undefined ? {} : { body: r.body }),
      ...(r.headers === undefined ? {} : { headers: r.headers }),
    })),
  };
  if (options.overallRate !== undefined) opts.overallRate = options.overallRate;
  const result = await autocannon(opts);
  return {
    requestsPerSec: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    mean: result.latency.mean,
    max: result.latency.max,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS: result.duration,
  };
}

/** Throws when a run had failures: a figure made of errors is not a figure. */
export function checkClean(what: string, r: LoadResult): void {
  if (r.non2xx > 0 || r.errors > 0) {
    throw new Error(`${what}: ${r.non2xx} non-2xx answers and ${r.errors} errors (${r.timeouts} timeouts) out of ${r.ok + r.non2xx} answers`);
  }
}
