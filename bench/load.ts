/**
 * HTTP load with autocannon (as a library), always against 127.0.0.1 and always bounded: in
 * time (`durationS`) and in count (`maxRequests`).
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { percentile } from './stats.ts';

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

/**
 * An open-loop load at a fixed rate: request i is due at start + i / rate, sent on the first
 * free keep-alive connection (at most `connections`), and its latency runs from when it was due
 * to its answer's last byte, so time spent waiting for a connection counts. autocannon's
 * `overallRate` paces its connections instead and, on this machine, reports p99s of 100–200 ms
 * against a hello-world at 500 req/s (bench notes); this measures the server, not the pacing.
 * Bounded: `rate × durationS` requests, and `durationS + timeoutS` seconds.
 */
export async function loadAtRate(options: { port: number; paths: readonly string[]; rate: number; durationS: number; connections: number; timeoutS?: number }): Promise<LoadResult> {
  const { port, paths, rate, durationS, connections } = options;
  const timeoutMs = (options.timeoutS ?? 10) * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const total = Math.max(1, Math.round(rate * durationS));
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  const started = performance.now();
  const one = (i: number, due: number): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: paths[i % paths.length], agent, timeout: timeoutMs }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          latencies.push(performance.now() - due);
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) ok++;
          else non2xx++;
          resolve();
        });
      });
      req.on('timeout', () => {
        timeouts++;
        req.destroy(new Error('timeout'));
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(one(i, due));
  }
  await Promise.all(inFlight);
  agent.destroy();
  const elapsedS = (performance.now() - started) / 1000;
  const at = (p: number): number => Math.round(percentile(latencies, p) * 10) / 10;
  return {
    requestsPerSec: ok / elapsedS,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    mean: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
    max: Math.max(0, ...latencies),
    ok,
    non2xx,
    errors,
    timeouts,
    durationS: elapsedS,
  };
}
