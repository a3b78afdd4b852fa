/** The console table and the generated BENCHMARKS.md. */
import type { Figure } from './figures.ts';
import type { ProfileSummary } from './profile-summary.ts';
import type { RunResults } from './run.ts';
import { formatCount, type Summary } from './stats.ts';

function number(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit.endsWith('/s')) return formatCount(value);
  if (unit === 'ms') return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  if (unit === 's') return value >= 100 ? value.toFixed(0) : value.toFixed(2);
  if (unit === 'KB') return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  if (unit === 'MiB') return value >= 100 ? value.toFixed(0) : value.toFixed(1);
  if (unit.startsWith('%')) return value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return formatCount(value);
}

function summary(s: Summary, unit: string): string {
  const one = s.values.length <= 1 || s.min === s.max;
  return one ? `${number(s.median, unit)} ${unit}` : `${number(s.median, unit)} ${unit} (${number(s.min, unit)}–${number(s.max, unit)})`;
}

function ratioText(f: Figure): string {
  if (f.ratio === null) return '';
  return Number.isFinite(f.ratio) ? `${f.ratio >= 10 ? f.ratio.toFixed(1) : f.ratio.toFixed(3)}×` : 'n/a';
}

function targetText(f: Figure): string {
  if (f.target === null) return '';
  const verdict = f.target.met === null ? 'not decided' : f.target.met ? 'MET' : 'NOT MET';
  return `${verdict}: ${f.target.text}`;
}

interface Row {
  bench: string;
  figure: string;
  value: string;
  reference: string;
  ratio: string;
  target: string;
}

function rows(run: RunResults): Row[] {
  const out: Row[] = [];
  for (const bench of run.benches) {
    if (bench.error !== undefined) {
      out.push({ bench: bench.id, figure: 'FAILED', value: bench.error.split('\n')[0] ?? '', reference: '', ratio: '', target: '' });
      continue;
    }
    for (const f of bench.figures) {
      out.push({
        bench: bench.id,
        figure: f.name,
        value: summary(f.value, f.unit),
        reference: f.reference === null ? '' : `${f.reference.name}: ${summary(f.reference.value, f.reference.unit)}`,
        ratio: f.ratio === null ? '' : `${ratioText(f)} (${f.ratioMeaning ?? ''})`,
        target: targetText(f),
      });
    }
  }
  return out;
}

/** A plain-text table for the console. */
export function renderTable(runs: RunResults[]): string {
  const lines: string[] = [];
  for (const run of runs) {
    const all = rows(run);
    const cols: (keyof Row)[] = ['bench', 'figure', 'value', 'reference', 'ratio', 'target'];
    const head: Row = { bench: 'bench', figure: 'figure', value: 'median (min–max)', reference: 'reference', ratio: 'ratio', target: 'target' };
    const width = (c: keyof Row): number => Math.min(70, Math.max(...[head, ...all].map((r) => r[c].length)));
    const fmt = (r: Row): string => cols.map((c) => r[c].slice(0, 70).padEnd(width(c))).join(' | ');
    lines.push(`${run.mode}${run.quick ? ' (quick)' : ''}, ${run.reps} rep(s):`, fmt(head), cols.map((c) => '-'.repeat(width(c))).join('-|-'), ...all.map(fmt));
  }
  return lines.join('\n');
}

const esc = (s: string): string => s.replace(/\|/g, '\\|');

const METHOD: Record<string, string> = {
  'speed-ingest':
    'A 4-partition topic is filled with N events (kcat -P, murmur2 partitioner like the platform\'s producer). Each repetition starts a worker process ' +
    'with a fresh consumer group and a fresh ClickHouse database; the worker first runs a speed layer through a small warm-up topic (JIT), then starts ' +
    'the measured SpeedLayer (default options) and times from `start()` resolved until its checkpoints in the store cover every record (polled every 50 ms). ' +
    'Reference: `kcat -C -b … -t topic -e -q -o beginning > /dev/null` over the same topic, timed; kcat and speed repetitions alternate, after one warm-up kcat read. ' +
    'The target is judged on the median of the per-repetition ratios. With `--profile` the speed worker also profiles the measured ingest alone (V8 inspector, ' +
    'from `start()` resolved until caught up, positions mapped back to the .ts sources); its top self-time functions are listed below when the run took one.',
  freshness:
    'A TrafficPump worker produces at the fixed rate (idempotent producer, acks=all, 10 appends/s), a speed-layer worker (default options) and a serving worker ' +
    'share one topic and database. After a warm-up (seconds of traffic plus discarded probes), the harness appends probe events, each for a page of its own, and polls ' +
    '`GET /api/v1/pages/:page/views?interval=minute&from=…` (the minute of the probe\'s own event time) every 50 ms (every 500 ms after the first 2 s) until the probe is counted. ' +
    'Each repetition sends current probes (event time now), then as many late probes (event time 10 minutes before they are sent). ' +
    'Freshness is the time from calling append to the answer that counts it; p50/p95/p99 per repetition. Reference: the flush interval, the designed floor of freshness; ' +
    'for the late probes\' p99, the current probes\' p99 of the same repetition.',
  batch:
    'A 4-partition topic holds N events spread over the 30 days before the cutoff (start of the current UTC hour). Each repetition runs `runBatch` in a worker process of its own ' +
    'against a fresh database (after a warm-up batch over a small topic in the same process) and reports wall time, raw-copy and view-build split, rows, and peak RSS ' +
    '(`process.resourceUsage().maxRSS`, and RSS sampled every 100 ms). Reference: kcat reading the same N events to /dev/null; kcat and batch repetitions alternate. ' +
    'Bounded memory compares the peak at N with the warm-up run\'s peak; that is meaningful only when the warm-up fills several 50,000-row insert batches per partition ' +
    '(the default warm-up, 400,000 events over 4 partitions, does; a run recorded with a smaller warm-up overstates the growth).',
  serving:
    'One event per (page, hour) over pages × days before the cutoff is recomputed by runBatch (published boundary); a speed-layer worker starting at the end of the topic ' +
    'counts live traffic from a TrafficPump after the boundary. The app of `npm start` (composed as `createPlatformApp` composes it, plus a constant route) runs in a worker on 127.0.0.1; ' +
    'autocannon (as a library, in the harness) sends merged queries (`interval=day` over the whole range, one page per request, pages in turn) at fixed concurrency, then at a fixed offered rate. ' +
    'Reference: an Express hello-world (`res.send(\'Hello World!\')`) in a worker of its own, same autocannon settings, runs alternating with the API\'s. ' +
    'The middleware stack\'s own share: a route of the same app that answers a constant through the read API\'s middleware, loaded like the API (same query strings, same settings) in runs alternating with both.',
  'serving-stats':
    'The second serving workload of issue #14: one event per (page, day) for pages × days of one site before the cutoff (start of the current UTC hour), published by runBatch; ' +
    'a speed-layer worker starting at the end of the topic counts live traffic from a TrafficPump over the same pages after the boundary. The app runs in a worker as in the ' +
    'serving benchmark; autocannon sends `GET /api/v1/stats/aggregate?site=…&period=30d` and `GET /api/v1/stats/breakdown?site=…&period=30d`, alternating on every connection, ' +
    'at fixed concurrency, then at a fixed offered rate. Reference: the Express hello-world, runs alternating with the API\'s.',
  'serving-memory':
    'One event per (page, day) for pages × days before the cutoff (start of the current UTC hour), published by runBatch (no speed layer). Each repetition starts a serving ' +
    'worker (the app of `npm start`, with --expose-gc) and takes `process.memoryUsage()` after a full GC (the baseline), then requests every page\'s ' +
    '`GET /api/v1/pages/<page>/views?interval=day&from=<cutoff − days>` once (10 at a time from the harness, 127.0.0.1 only, bounded in count and time; every answer checked) ' +
    'and takes the memory after a full GC again. Reference: the configured serving memory budget (BENCH_SERVING_BUDGET_MB, default 256 MiB); ' +
    'the target is met when RSS over the baseline is within the budget on every repetition.',
  collector:
    'The real serving app (collector included) runs in a worker; autocannon POSTs batches of 500 events (16 different bodies in turn) at fixed concurrency; every answer must ' +
    'be 202 and the topic must hold every accepted event. Reference: a bare kafkajs producer (defaults, acks=all) in a worker, sending the same batches with the same ' +
    'concurrency; runs alternate.',
  memory:
    'For each page count a topic holds every page at least once, all events in one minute bucket, so all state stays open in memory. A speed-layer worker (default options) ' +
    'consumes it; once caught up it checkpoints, runs a full GC and reports RSS and the live heap (heap used + external), the same before the speed layer started, ' +
    'and the `pv_speed_state_bytes` gauge. Reference: the 256 MiB budget; for the gauge, the live heap growth measured in the same process.',
  idle:
    'The platform is started as a user would (`node --import tsx cli/start.ts`, what `npm start` runs) in embedded mode (KAFKA_BROKERS and CLICKHOUSE_URL unset, a fresh ' +
    'temporary DATA_DIR, all roles, defaults otherwise, PORT a free port on 127.0.0.1), once with the built-in generator at 20 events/s and once with GENERATOR=off (the reference), ' +
    'alternating. After GET /api/v1/ready answers 200 and a warm-up, the CPU time of the process tree (utime + stime from /proc/<pid>/stat) over a fixed window gives % of one core; ' +
    'the RSS is read at the end. The process group is stopped with SIGTERM (SIGKILL after 10 s).',
  dashboard:
    'The platform is started as a user would (`node --import tsx cli/start.ts`) on the embedded default (a fresh temporary DATA_DIR, the built-in generator on, PORT=0 on 127.0.0.1, ' +
    'no platform variable inherited); once GET /api/v1/ready answers 200 and /api/v1/sites lists a site, Debian\'s chromium (headless, playwright-core) loads `/` in a fresh context per ' +
    'repetition (cold cache, 1280×900) and waits for the dashboard\'s `pv-numbers` performance mark (its first numbers painted). From the page\'s own entries: first contentful paint, ' +
    'the mark (the first meaningful paint), and the transferSize of the navigation and resource entries, the dashboard\'s files apart from the API answers. Reference: the same chromium ' +
    'loading a bare page (one heading) from a bare Node http server, in a fresh context, alternating with the dashboard; its first contentful paint is the floor. For the transfer, ' +
    'the issue\'s 150 KB target, judged on the files\' bodies as the server sends them gzipped (1 KB = 1,000 bytes).',
  embedded:
    'One worker holds the embedded log and DuckDB (they belong to one process): it fills a 4-partition embedded log, reads it back with `readRange` (reference), runs the ' +
    'speed layer over it into a fresh DuckDB file per repetition (after a warm-up repetition), then publishes batch views with runBatch, starts a live speed layer and the ' +
    'built-in generator, and serves the API for the harness\'s autocannon, compared with an Express hello-world as in the serving benchmark (with the constant route: the middleware stack\'s own share).',
};

function machineLines(run: RunResults): string[] {
  const m = run.machine;
  return [
    `- ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.os}`,
    `- Node ${m.node}, kafkajs ${m.kafkajs}; Kafka ${m.kafka}; ClickHouse ${m.clickhouse}; kcat ${m.kcat}`,
    `- Load average at start ${m.loadAverageAtStart.join(' / ')}, at end ${m.loadAverageAtEnd.join(' / ')} (the machine is shared)`,
    `- Run: \`${run.command}\`, ${run.startedAt} → ${run.finishedAt} (${(run.durationS / 60).toFixed(1)} min), ${run.reps} repetition(s) per figure after a warm-up`,
  ];
}

type Details = Record<string, unknown>;
const at = (d: Details, key: string): Details | undefined => (typeof d[key] === 'object' && d[key] !== null ? (d[key] as Details) : undefined);

/** Facts from the raw details that explain the figures (store calls per request, slow statements, failures). */
function diagnosticLines(run: RunResults): string[] {
  const out: string[] = [];
  const prefix = run.mode === 'embedded' ? 'Embedded: ' : '';
  for (const bench of run.benches) {
    const d = bench.details;
    if (bench.id === 'serving') {
      const traces = d['storeTraces'] as Record<string, { perRequest: number; avgMs: number }>[] | undefined;
      const last = traces?.[traces.length - 1];
      const floor = at(d, 'clickhouseSelect1');
      if (last !== undefined) {
        const calls = Object.entries(last).map(([m, v]) => `\`${m}\` ${v.perRequest}× at ${v.avgMs} ms`).join(', ');
        out.push(
          `- ${prefix}Serving: view-store calls per API request (last repetition, 10 connections): ${calls}` +
            (floor === undefined ? '.' : `; a bare ClickHouse round trip (SELECT 1, no API load) takes ${Number(floor['p50']).toFixed(1)} ms p50.`),
        );
      }
    }
    if (bench.id === 'batch') {
      const stalled = at(d, 'stalled');
      if (stalled !== undefined) {
        out.push(`- Batch: the product's raw copy stalled after ${Number(stalled['delivered']).toLocaleString('en')} records (KafkaEventLog.readRange does not resolve offsets; see the batch method).`);
      }
      for (const key of ['whatIfFailure', 'whatIfSmallerFailure', 'productFailure']) {
        const f = at(d, key);
        if (f === undefined) continue;
        const copied = at(f, 'copied');
        const error = String(f['error'] ?? at(f, 'stop')?.['error'] ?? '');
        out.push(
          `- Batch (${key}): ${Number(f['events'] ?? d['events']).toLocaleString('en')} events: ` +
            (copied === undefined ? '' : `raw copy ${(Number(copied['copyMs']) / 1000).toFixed(1)} s, then `) +
            `failed: ${error.slice(0, 400)}`,
        );
      }
      if (run.sizes.batchWarmEvents / 4 < 50_000) {
        out.push(
          `- Batch: this run's warm-up (${run.sizes.batchWarmEvents.toLocaleString('en')} events, ${(run.sizes.batchWarmEvents / 4).toLocaleString('en')} per partition) fills no 50,000-row insert batch, ` +
            'so its peak RSS is below the steady state and the peak-RSS ratio overstates growth with N: read the bounded-memory verdict as inconclusive.',
        );
      }
      const whatIf = at(d, 'whatIf');
      const runs = ((whatIf?.['runs'] ?? d['runs']) as { copyMs: number; wallMs: number; statements?: { sql: string; ms: number }[] }[] | undefined) ?? [];
      const r = runs[runs.length - 1];
      if (r !== undefined) {
        const slow = (r.statements ?? []).slice(0, 3).map((st) => `${(st.ms / 1000).toFixed(1)} s \`${st.sql.slice(0, 60)}…\``).join('; ');
        out.push(`- Batch: raw copy ${((100 * r.copyMs) / r.wallMs).toFixed(0)}% of a run (${(r.copyMs / 1000).toFixed(1)} of ${(r.wallMs / 1000).toFixed(1)} s); slowest view statements: ${slow}.`);
      }
    }
    if (bench.id === 'memory') {
      const largest = Object.keys(d).filter((k) => k.startsWith('pages_')).sort((a, b) => Number(b.slice(6)) - Number(a.slice(6)))[0];
      const runs = (largest === undefined ? undefined : at(d, largest)?.['runs']) as Details[] | undefined;
      if (largest !== undefined && runs !== undefined && runs.length > 0) {
        const live = runs.map((r) => Number(r['live']) - Number(r['baselineLive']));
        const gauge = runs.map((r) => Number(r['stateBytes']));
        const l = live.sort((a, b) => a - b)[Math.floor(live.length / 2)]!;
        const g = gauge.sort((a, b) => a - b)[Math.floor(gauge.length / 2)]!;
        const off = (100 * (g - l)) / l;
        out.push(
          `- Memory: with ${Number(largest.slice(6)).toLocaleString('en')} distinct pages the live state is ${(l / 2 ** 20).toFixed(0)} MiB while pv_speed_state_bytes says ` +
            `${(g / 2 ** 20).toFixed(0)} MiB (the gauge is ${Math.abs(off).toFixed(0)}% ${off < 0 ? 'under' : 'over'} the live heap; the target allows 15%).`,
        );
      }
    }
    if (bench.id === 'freshness') {
      const reps = d['reps'] as { ackP50: number; timeouts: number; late?: { timeouts: number } }[] | undefined;
      if (reps !== undefined && reps.length > 0) {
        out.push(`- Freshness: a probe's append is acknowledged by Kafka in ${reps.map((r) => r.ackP50.toFixed(0)).join(', ')} ms (p50 per repetition); the rest is waiting for the speed layer's next checkpoint and the store write.`);
        const lateTimeouts = reps.reduce((sum, r) => sum + (r.late?.timeouts ?? 0), 0);
        if (lateTimeouts > 0) {
          out.push(
            `- Freshness: ${lateTimeouts} of ${reps.length * Number(d['probesPerRep'])} probes 10 minutes late were not visible within ${Number(d['probeTimeoutMs']) / 1000} s ` +
              '(counted as that long): the speed layer leaves events behind its watermark to the batch layer.',
          );
        }
      }
    }
    if (bench.id === 'idle') {
      const on = d['on'] as { cpuPercent: number; speedEventsPerSec: number; commands?: string[] }[] | undefined;
      const off = d['off'] as { cpuPercent: number }[] | undefined;
      if (on !== undefined && off !== undefined && on.length > 0) {
        out.push(
          `- Idle: npm start used ${on.map((r) => r.cpuPercent.toFixed(1)).join(', ')}% of a core with the generator on ` +
            `(speed layer consuming ${on.map((r) => r.speedEventsPerSec.toFixed(1)).join(', ')} events/s) and ${off.map((r) => r.cpuPercent.toFixed(1)).join(', ')}% with it off (per repetition).`,
        );
      }
    }
  }
  return out;
}

/** The top self-time functions of a CPU profile the run took (speed-ingest with --profile), as a table. */
function profileLines(profile: ProfileSummary | undefined): string[] {
  if (profile === undefined || profile.functions.length === 0) return [];
  return [
    `Top self time in the speed worker's CPU profile of the measured ingest (\`--profile\`, last repetition: ${(profile.profiledMs / 1000).toFixed(1)} s profiled, ` +
      `${profile.samples.toLocaleString('en')} samples; \`${profile.file}\`; \`npx tsx bench/profile-summary.ts <file>\` lists more):`,
    '',
    '| Self time | Share of the profile | Function |',
    '| --- | --- | --- |',
    ...profile.functions.map((t) => `| ${t.selfMs.toFixed(0)} ms | ${t.percent.toFixed(1)}% | \`${esc(t.name)}\` |`),
    '',
  ];
}

/** BENCHMARKS.md: targets, figures, method and machine, from the results of one or more runs (one per mode). */
export function renderBenchmarksMd(unordered: RunResults[]): string {
  // Kafka + ClickHouse (production) first.
  const runs = [...unordered].sort((a, b) => (a.mode === b.mode ? 0 : a.mode === 'kafka-clickhouse' ? -1 : 1));
  const out: string[] = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.ts, bench/report.ts) from bench/results/*.json. Do not edit by hand. -->',
    '',
    'Every figure is measured next to a reference measured in the same run on the same machine, and read as the ratio of the two: ',
    'the machine is small (2 cores), shared with other work, and noisy, so absolute numbers move between runs while ratios move less.',
    'Each figure is the median of its repetitions (after a warm-up), with the min–max range in parentheses.',
    '',
  ];
  const targets = runs.flatMap((run) => run.benches.flatMap((b) => b.figures.filter((f) => f.target !== null).map((f) => ({ run, f }))));
  if (targets.length > 0) {
    out.push('## Targets from the layer issues', '', '| Target | Before (the issue\'s figure) | Measured | Verdict |', '| --- | --- | --- | --- |');
    for (const { run, f } of targets) {
      const verdict = f.target!.met === null ? 'not decided' : f.target!.met ? '**met**' : '**not met**';
      out.push(`| ${esc(f.target!.text)}${runs.length > 1 ? ` (${run.mode})` : ''} | ${esc(f.target!.before ?? '')} | ${esc(f.target!.why)} | ${verdict} |`);
    }
    out.push('');
  }
  for (const run of runs) {
    out.push(`## Figures: ${run.mode === 'embedded' ? 'embedded log + DuckDB' : 'Kafka + ClickHouse'}${run.quick ? ' (smoke run, --quick)' : ''}`, '');
    out.push('| Benchmark | Figure | Median (min–max) | Reference | Ratio |', '| --- | --- | --- | --- | --- |');
    for (const r of rows(run)) out.push(`| ${r.bench} | ${esc(r.figure)} | ${esc(r.value)} | ${esc(r.reference)} | ${esc(r.ratio)} |`);
    out.push('', '### Machine', '', ...machineLines(run), '');
  }
  const diagnostics = runs.flatMap((run) => diagnosticLines(run));
  if (diagnostics.length > 0) out.push('## Where the time goes', '', ...diagnostics, '');
  out.push('## Method', '');
  out.push(
    '- `npm run bench` runs the Kafka + ClickHouse benchmarks (real Kafka and ClickHouse on 127.0.0.1, started by `npm run infra:up`); ',
    '  `npm run bench -- --embedded` runs the embedded-mode benchmark; `--quick` is a smoke run with small sizes and one repetition; `--help` lists the options.',
    '- All load goes to 127.0.0.1. Every load loop is bounded in time and in count. Each benchmark creates its own topics (`bench-<uuid>`), consumer groups and ',
    '  ClickHouse databases (`bench_<id>`) and removes them when it ends, also when it fails or is interrupted.',
    '- The product code runs in worker processes (bench/worker.ts: speed layer, batch run, serving app, traffic pump), as it would be deployed; the harness process ',
    '  generates load (autocannon as a library) and takes the measurements. Topics are filled with the platform\'s traffic generator through `kcat -P` (setup, not timed).',
    '- `--profile` writes a CPU profile of every worker (bench/results/profiles/); `npx tsx bench/profile-summary.ts <file>` lists the functions with the most self time.',
    '',
  );
  const seen = new Set<string>();
  for (const run of runs) {
    for (const bench of run.benches) {
      if (seen.has(bench.id)) continue;
      seen.add(bench.id);
      out.push(`### ${bench.title}`, '', METHOD[bench.id] ?? '', '');
      for (const note of bench.notes) out.push(`- ${note}`);
      if (bench.notes.length > 0) out.push('');
      out.push(...profileLines(bench.details['profile'] as ProfileSummary | undefined));
    }
  }
  out.push('Raw numbers of every repetition: the results file of the run, `bench/results/<date>.json`.', '');
  return out.join('\n');
}
