/**
 * 1. Speed-layer ingest: events/s from a pre-filled topic into the speed views, against kcat
 * reading the same topic to /dev/null.
 *
 * Each repetition starts a speed-layer worker with a fresh consumer group and a fresh ClickHouse
 * database. The worker first runs a speed layer through a small warm-up topic (JIT), then starts
 * the measured one and times from `start()` resolved (group joined, partitions assigned) until
 * its checkpoints in the store cover every record of the topic (polled every 50 ms; the speed
 * layer checkpoints every flush interval, 500 ms by default). kcat and speed repetitions alternate.
 *
 * Target (issue #13): speed ingest ≥ 0.2× kcat on the same topic, judged on the median of the
 * per-repetition ratios (each repetition pairs a kcat read with a speed run, back to back).
 * With --profile the worker also writes a CPU profile of the measured ingest only (after the
 * group join, until caught up); the top self-time functions go into the results.
 */
import path from 'node:path';
import { SPEED_LAYER_DEFAULTS } from '../speed-layer/index.ts';
import type { PageView } from '../shared/core/page-view.ts';
import { startsNewSession } from '../shared/core/sessions.ts';
import { TRAFFIC_DEFAULTS, type TrafficOptions } from '../shared/tools/traffic-generator.ts';
import { MINUTE_MS, spreadEvents } from './events.ts';
import { figure, type BenchResult, type Figure } from './figures.ts';
import { ROOT, filledTopic, kcatRead, type BenchEnv, type Resources } from './harness.ts';
import { profileSummary, type ProfileSummary } from './profile-summary.ts';
import { FULL, type Sizes } from './sizes.ts';
import { median } from './stats.ts';

/** Issue #13: the speed layer's ingest rate over kcat's on the same topic. */
export const SPEED_VS_KCAT_TARGET = 0.2;
/** Functions of the profile summary kept in the results (and BENCHMARKS.md). */
const PROFILE_TOP = 10;

interface SpeedRun {
  joinMs: number;
  ingestMs: number;
  eventsPerSec: number;
  outcomes: Record<string, number>;
  maxRss: number;
  stateBytes: number;
}

/** Runs one speed worker over `topic` until caught up; its databases are dropped afterwards. */
export async function speedRun(
  env: BenchEnv,
  res: Resources,
  topic: string,
  events: number,
  warm: { topic: string; events: number } | null,
  profileOut: string | null = null,
  workerEnv: Record<string, string | number> = {},
): Promise<SpeedRun & Record<string, unknown>> {
  const database = res.database();
  const warmDatabase = res.database();
  try {
    const worker = await res.worker('speed', {
      BENCH_BROKERS: env.brokers.join(','),
      BENCH_CLICKHOUSE_URL: env.clickhouseUrl,
      BENCH_TOPIC: topic,
      BENCH_DATABASE: database,
      BENCH_GROUP: res.group(),
      BENCH_EXPECT: events,
      BENCH_MAX_MS: 600_000,
      ...(warm === null
        ? {}
        : { BENCH_WARM_TOPIC: warm.topic, BENCH_WARM_DATABASE: warmDatabase, BENCH_WARM_GROUP: res.group(), BENCH_WARM_EXPECT: warm.events }),
      ...(profileOut === null ? {} : { BENCH_PROFILE_OUT: profileOut }),
      ...workerEnv,
    }, ['--expose-gc']);
    const result = await worker.next('result', 900_000);
    await worker.waitExit(60_000);
    const { type: _type, ...rest } = result;
    return rest as unknown as SpeedRun & Record<string, unknown>;
  } finally {
    await res.dropDatabase(database);
    await res.dropDatabase(warmDatabase);
  }
}

export async function benchSpeedIngest(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const events = sizes.speedEvents;
  const now = Date.now();
  // Event times over the last few minutes, in order: all counted (none late, none in the future).
  const topic = await filledTopic(env, res, events, spreadEvents(events, now - 10 * MINUTE_MS, now - MINUTE_MS, { seed: 1 }));
  const warmTopic = await filledTopic(env, res, sizes.warmEvents, spreadEvents(sizes.warmEvents, now - 10 * MINUTE_MS, now - MINUTE_MS, { seed: 2 }));

  env.say('  kcat warm-up read');
  await kcatRead(env.brokers, topic);
  const kcatMs: number[] = [];
  const runs: (SpeedRun & Record<string, unknown>)[] = [];
  const profiles: ProfileSummary[] = [];
  for (let rep = 0; rep < env.reps; rep++) {
    kcatMs.push(await kcatRead(env.brokers, topic));
    const profileOut = env.profileDir === null ? null : path.join(env.profileDir, `speed-ingest-rep${rep + 1}.cpuprofile`);
    const run = await speedRun(env, res, topic, events, { topic: warmTopic, events: sizes.warmEvents }, profileOut);
    runs.push(run);
    env.say(`  rep ${rep + 1}: kcat ${(kcatMs[rep]! / 1000).toFixed(2)} s, speed layer ${(run.ingestMs / 1000).toFixed(2)} s (${Math.round(run.eventsPerSec)} events/s)`);
    if (profileOut !== null) {
      const summary = { ...(await profileSummary(profileOut, PROFILE_TOP)), file: path.relative(ROOT, profileOut) };
      profiles.push(summary);
      env.say(`  rep ${rep + 1}: CPU profile of the measured ingest (${(summary.profiledMs / 1000).toFixed(1)} s): ${summary.file}; top self time:`);
      for (const t of summary.functions) env.say(`    ${t.percent.toFixed(1).padStart(5)}%  ${t.selfMs.toFixed(0).padStart(6)} ms  ${t.name}`);
    }
  }
  const kcatRate = kcatMs.map((ms) => events / (ms / 1000));
  const speedRate = runs.map((r) => r.eventsPerSec);
  // Each repetition pairs a kcat read and a speed run measured back to back.
  const ratios = speedRate.map((rate, i) => rate / kcatRate[i]!);
  const medianRatio = median(ratios);
  const f = figure('Speed-layer ingest', 'events/s', 'higher', speedRate, { name: 'kcat -C to /dev/null', values: kcatRate, meaning: 'speed layer / kcat' });
  // The full size only: at smoke-run sizes the flush interval's quantization of the end weighs too much.
  const decidable = events >= FULL.speedEvents;
  f.target = {
    text: `speed ingest ≥ ${SPEED_VS_KCAT_TARGET}× kcat on the same topic`,
    before: '0.10×',
    met: decidable ? medianRatio >= SPEED_VS_KCAT_TARGET : null,
    why:
      `median of the per-repetition ratios ${medianRatio.toFixed(3)}× (${ratios.map((r) => r.toFixed(3)).join(', ')}); ` +
      `speed layer median ${Math.round(f.value.median).toLocaleString('en')} events/s, kcat ${Math.round(median(kcatRate)).toLocaleString('en')} events/s` +
      (decidable ? '' : ` (${events.toLocaleString('en')} events, below the full run's ${FULL.speedEvents.toLocaleString('en')}: not decided)`),
  };
  const d = SPEED_LAYER_DEFAULTS;
  return {
    id: 'speed-ingest',
    title: 'Speed-layer ingest',
    figures: [f],
    details: {
      events,
      partitions: 4,
      kcatMs,
      ratios,
      medianRatio,
      runs,
      ...(profiles.length === 0 ? {} : { profile: profiles[profiles.length - 1], profiles }),
    },
    notes: [
      `${events.toLocaleString('en')} events (1,000 Zipf pages, 50,000 visitors) in a 4-partition topic; speed layer with the default options ` +
        `(flush every ${d.flushIntervalMs} ms, ${d.maxExactKeys.toLocaleString('en')} exact keys per partition).`,
      `Timed from start() resolved (group joined) until the checkpoints cover the whole topic; the ${d.flushIntervalMs} ms flush interval quantizes the end by up to one interval.`,
      `Target judged on the median of the per-repetition ratios speed layer / kcat (each repetition's kcat read and speed run are measured back to back).`,
    ],
  };
}

/** A topic kind of an on/off ingest benchmark: the traffic generator's options for its events. */
interface IngestKind {
  id: string;
  label: string;
  traffic: TrafficOptions;
}

/** A part of the speed layer the on/off benchmarks turn off (bench/worker.ts reads its BENCH_* variable). */
interface LayerPart {
  /** As the figures and lines name it: 'dimensions', 'sessions'. */
  name: string;
  /** The worker's on|off variable: BENCH_DIMENSIONS, BENCH_SESSIONS. */
  envVar: string;
  /** Infix of the CPU profiles' file names. */
  profileTag: string;
  /** The target line's "with …": 'with the dimension views on'. */
  targetWith: string;
}

/**
 * Visits in the order the events are made (time order): per (site, visitor), a new visit after a
 * gap of more than 30 minutes (shared/core/sessions.ts), as the sessions are counted.
 */
class VisitTally {
  private readonly open = new Map<string, { last: number; views: number }>();
  private readonly closed: number[] = [];
  events = 0;

  add(e: PageView): void {
    this.events += 1;
    const key = `${e.site}\u0000${e.visitorId}`;
    const visit = this.open.get(key);
    if (visit !== undefined && !startsNewSession(e.timestamp - visit.last)) {
      visit.views += 1;
      visit.last = e.timestamp;
      return;
    }
    if (visit !== undefined) this.closed.push(visit.views);
    this.open.set(key, { last: e.timestamp, views: 1 });
  }

  summary(): Record<string, number> {
    const views = [...this.closed, ...[...this.open.values()].map((v) => v.views)].sort((a, b) => a - b);
    const at = (p: number): number => views[Math.floor(p * (views.length - 1))] ?? 0;
    return {
      events: this.events,
      visitors: this.open.size,
      visits: views.length,
      viewsPerVisitMean: Math.round((this.events / Math.max(1, views.length)) * 100) / 100,
      viewsPerVisitMedian: at(0.5),
      viewsPerVisitP90: at(0.9),
      viewsPerVisitP99: at(0.99),
      viewsPerVisitMax: views[views.length - 1] ?? 0,
      singleViewShare: Math.round((views.filter((v) => v === 1).length / Math.max(1, views.length)) * 1000) / 1000,
    };
  }
}

/**
 * Speed-layer ingest with a part of the layer on and off, against kcat on the same topic: for
 * each kind a topic of `speedEvents` events over the last few minutes (as benchSpeedIngest's).
 * Each repetition reads the topic with kcat, then runs a speed worker with the part on (the
 * default) and one with it off, in alternating order; every run warms up on a small topic of the
 * same kind with the same setting. The visits of each topic are tallied as it is filled.
 */
async function onOffIngest(
  env: BenchEnv,
  res: Resources,
  sizes: Sizes,
  part: LayerPart,
  kinds: readonly IngestKind[],
): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const events = sizes.speedEvents;
  const now = Date.now();
  const figures: Figure[] = [];
  const details: Record<string, unknown> = { events, partitions: 4 };
  for (const kind of kinds) {
    const tally = new VisitTally();
    const make = spreadEvents(events, now - 10 * MINUTE_MS, now - MINUTE_MS, { ...kind.traffic, seed: 1 });
    const topic = await filledTopic(env, res, events, (i) => {
      const e = make(i);
      tally.add(e);
      return e;
    });
    const traffic = tally.summary();
    env.say(
      `  ${kind.label}: ${traffic['visitors']!.toLocaleString('en')} visitors, ${traffic['visits']!.toLocaleString('en')} visits of ${traffic['viewsPerVisitMean']} page views on average ` +
        `(median ${traffic['viewsPerVisitMedian']}, p90 ${traffic['viewsPerVisitP90']}, max ${traffic['viewsPerVisitMax']!.toLocaleString('en')}; ${(traffic['singleViewShare']! * 100).toFixed(1)}% of one page view)`,
    );
    const warm = { topic: await filledTopic(env, res, sizes.warmEvents, spreadEvents(sizes.warmEvents, now - 10 * MINUTE_MS, now - MINUTE_MS, { ...kind.traffic, seed: 2 })), events: sizes.warmEvents };
    env.say(`  ${kind.label}: kcat warm-up read`);
    await kcatRead(env.brokers, topic);
    const kcatMs: number[] = [];
    const runs: Record<'on' | 'off', (SpeedRun & Record<string, unknown>)[]> = { on: [], off: [] };
    const profiles: (ProfileSummary & Record<string, unknown>)[] = [];
    for (let rep = 0; rep < env.reps; rep++) {
      kcatMs.push(await kcatRead(env.brokers, topic));
      const order = rep % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      for (const mode of order) {
        const profileOut = env.profileDir === null ? null : path.join(env.profileDir, `speed-ingest-${kind.id}-${part.profileTag}-${mode}-rep${rep + 1}.cpuprofile`);
        runs[mode].push(await speedRun(env, res, topic, events, warm, profileOut, { [part.envVar]: mode }));
        if (profileOut !== null) profiles.push({ ...(await profileSummary(profileOut, PROFILE_TOP)), file: path.relative(ROOT, profileOut), [part.name]: mode });
      }
      const on = runs.on[rep]!;
      const off = runs.off[rep]!;
      const kcatRate = events / (kcatMs[rep]! / 1000);
      env.say(
        `  ${kind.label}, rep ${rep + 1}: kcat ${(kcatMs[rep]! / 1000).toFixed(2)} s; ${part.name} on ${(on.ingestMs / 1000).toFixed(2)} s (${Math.round(on.eventsPerSec)} events/s, ` +
          `${(on.eventsPerSec / kcatRate).toFixed(3)}× kcat), off ${(off.ingestMs / 1000).toFixed(2)} s (${Math.round(off.eventsPerSec)} events/s, ${(off.eventsPerSec / kcatRate).toFixed(3)}× kcat)`,
      );
    }
    for (const p of profiles) {
      env.say(`  ${kind.label}, ${part.name} ${p[part.name]}: CPU profile (${(p.profiledMs / 1000).toFixed(1)} s) ${p.file}; top self time:`);
      for (const t of p.functions) env.say(`    ${t.percent.toFixed(1).padStart(5)}%  ${t.selfMs.toFixed(0).padStart(6)} ms  ${t.name}`);
    }
    const kcatRate = kcatMs.map((ms) => events / (ms / 1000));
    const ratiosOn = runs.on.map((r, i) => r.eventsPerSec / kcatRate[i]!);
    const ratiosOff = runs.off.map((r, i) => r.eventsPerSec / kcatRate[i]!);
    const onOff = runs.on.map((r, i) => r.eventsPerSec / runs.off[i]!.eventsPerSec);
    const kcatRef = { name: 'kcat -C to /dev/null', values: kcatRate, meaning: 'speed layer / kcat' };
    const on = figure(`Speed-layer ingest, ${part.name} on, ${kind.label}`, 'events/s', 'higher', runs.on.map((r) => r.eventsPerSec), kcatRef);
    const off = figure(`Speed-layer ingest, ${part.name} off, ${kind.label}`, 'events/s', 'higher', runs.off.map((r) => r.eventsPerSec), kcatRef);
    const cost = figure(`Speed-layer ingest, ${part.name} on / off, ${kind.label}`, 'events/s', 'higher', runs.on.map((r) => r.eventsPerSec), {
      name: `${part.name} off, same topic`,
      values: runs.off.map((r) => r.eventsPerSec),
      meaning: 'on / off',
    });
    on.target = {
      text: `speed ingest ≥ ${SPEED_VS_KCAT_TARGET}× kcat on the same topic (issue #13), ${part.targetWith}`,
      met: events >= FULL.speedEvents ? median(ratiosOn) >= SPEED_VS_KCAT_TARGET : null,
      why:
        `median of the per-repetition ratios ${median(ratiosOn).toFixed(3)}× on (${ratiosOn.map((r) => r.toFixed(3)).join(', ')}), ` +
        `${median(ratiosOff).toFixed(3)}× off (${ratiosOff.map((r) => r.toFixed(3)).join(', ')}); on / off ${median(onOff).toFixed(3)}× per repetition (median)`,
    };
    figures.push(on, off, cost);
    details[kind.id] = {
      traffic,
      kcatMs,
      ratiosOn,
      ratiosOff,
      onOff,
      runs,
      ...(profiles.length === 0 ? {} : { profiles }),
    };
  }
  return { figures, details };
}

/**
 * 1b. Speed-layer ingest with and without the dimension views (issue #16), against kcat on the
 * same topic (see onOffIngest): two topics of `speedEvents` events, (a) the benchmarks' v1
 * events (no visit fields: each dimension has one value per site, the absent one) and (b) the
 * traffic generator's realistic visit fields (TrafficOptions.visitFields); dimensions on (the
 * default) and SpeedLayerOptions.dimensions false.
 */
export async function benchSpeedIngestDimensions(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const { figures, details } = await onOffIngest(
    env,
    res,
    sizes,
    { name: 'dimensions', envVar: 'BENCH_DIMENSIONS', profileTag: 'dims', targetWith: 'with the dimension views on' },
    [
      { id: 'v1', label: 'v1 events (no visit fields)', traffic: { visitFields: false } },
      { id: 'visit', label: 'events with visit fields', traffic: { visitFields: true } },
    ],
  );
  const d = SPEED_LAYER_DEFAULTS;
  return {
    id: 'speed-ingest-dimensions',
    title: 'Speed-layer ingest with and without the dimension views',
    figures,
    details,
    notes: [
      `${sizes.speedEvents.toLocaleString('en')} events (1,000 Zipf pages, 50,000 visitors) per topic, 4 partitions; v1 events, then the traffic generator's visit fields (TrafficOptions.visitFields) on a topic of their own; ` +
        `speed layer with the default options (flush every ${d.flushIntervalMs} ms, ${d.maxExactKeys.toLocaleString('en')} exact keys per partition), dimensions on (default) and off (SpeedLayerOptions.dimensions: false).`,
      'Each repetition: kcat, then the two speed runs in alternating order; ratios per repetition against that repetition’s kcat read.',
    ],
  };
}

/** Events per visitor (on average, over the visitors drawn) of the short-visits topic of benchSpeedIngestSessions. */
const SHORT_VISITS_EVENTS_PER_VISITOR = 4;

/**
 * 1c. Speed-layer ingest with and without sessions (issue #17), against kcat on the same topic
 * (see onOffIngest). Visitor ids recur across events, as in real traffic (one event per visitor
 * would make every visit a bounce and hide the cost of extending a session). Two topics of
 * `speedEvents` events over 9 minutes, one site, 1,000 Zipf pages:
 *  (a) the speed-ingest benchmark's own traffic: the generator's 50,000 visitors, Zipf (0.8) —
 *      at 2M events about 40 page views per visit on average (median 16), every visitor's one
 *      visit, none of one page view;
 *  (b) short visits: speedEvents / 4 visitors (500,000 at 2M events), Zipf (0.8) — at 2M events
 *      about 394,000 visits of 5.1 page views on average (median 2), a third of one page view
 *      (left out when speedEvents / 4 is at most 50,000: (a) is then short visits already).
 * The span (9 minutes) is shorter than the 30-minute gap: no visit closes during a run. Sessions
 * on (the default, with the dimension views as by default) and SpeedLayerOptions.sessions false.
 */
export async function benchSpeedIngestSessions(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const shortVisitors = Math.max(1, Math.round(sizes.speedEvents / SHORT_VISITS_EVENTS_PER_VISITOR));
  const { figures, details } = await onOffIngest(
    env,
    res,
    sizes,
    { name: 'sessions', envVar: 'BENCH_SESSIONS', profileTag: 'sessions', targetWith: 'with sessions on' },
    [
      { id: 'speedIngestTraffic', label: `speed-ingest traffic (${TRAFFIC_DEFAULTS.visitors.toLocaleString('en')} visitors)`, traffic: {} },
      // At smoke-run sizes (200,000 events) the speed-ingest traffic is already short visits.
      ...(shortVisitors > TRAFFIC_DEFAULTS.visitors ? [{ id: 'shortVisits', label: `short visits (${shortVisitors.toLocaleString('en')} visitors)`, traffic: { visitors: shortVisitors } }] : []),
    ],
  );
  const d = SPEED_LAYER_DEFAULTS;
  const visits = (id: string): string => {
    const t = (details[id] as { traffic: Record<string, number> }).traffic;
    return (
      `${t['visitors']!.toLocaleString('en')} visitors, ${t['visits']!.toLocaleString('en')} visits of ${t['viewsPerVisitMean']} page views on average ` +
      `(median ${t['viewsPerVisitMedian']}, p90 ${t['viewsPerVisitP90']}, max ${t['viewsPerVisitMax']!.toLocaleString('en')}), ${(t['singleViewShare']! * 100).toFixed(1)}% of one page view`
    );
  };
  return {
    id: 'speed-ingest-sessions',
    title: 'Speed-layer ingest with and without sessions',
    figures,
    details,
    notes: [
      `${sizes.speedEvents.toLocaleString('en')} events per topic over 9 minutes (no visit closes: the gap is 30 minutes), one site, 1,000 Zipf pages, Zipf (0.8) visitors, 4 partitions: ` +
        `the speed-ingest benchmark's traffic (${visits('speedIngestTraffic')})` +
        (details['shortVisits'] === undefined ? '.' : `, then short visits (${visits('shortVisits')}).`),
      `Speed layer with the default options (flush every ${d.flushIntervalMs} ms, ${d.maxExactKeys.toLocaleString('en')} exact keys per partition, dimension views on), sessions on (default) and off (SpeedLayerOptions.sessions: false).`,
      'Each repetition: kcat, then the two speed runs in alternating order; ratios per repetition against that repetition’s kcat read.',
    ],
  };
}
