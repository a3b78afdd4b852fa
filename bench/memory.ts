/**
 * 6. Memory: speed-layer state with 1k, 100k and 1M distinct pages.
 *
 * For each page count, a topic with every page at least once, all events in one minute (so
 * every counter is in an open bucket and stays in memory), is consumed by a speed-layer worker
 * (default options: 100k exact page-minute keys per partition, Count-Min and top pages beyond).
 * Once caught up the worker checkpoints, runs a full GC and reports its RSS, the RSS it had
 * before starting the speed layer, and the `pv_speed_state_bytes` gauge (the state's own
 * estimate, PartitionState.memoryBytes summed).
 */
import { distinctPageEvents, MINUTE_MS } from './events.ts';
import { figure, MiB, type BenchResult, type Figure } from './figures.ts';
import { filledTopic, type BenchEnv, type Resources } from './harness.ts';
import type { Sizes } from './sizes.ts';
import { speedRun } from './speed-ingest.ts';

const BUDGET_MIB = 256;

export async function benchMemory(env: BenchEnv, res: Resources, sizes: Sizes): Promise<Omit<BenchResult, 'durationS'>> {
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  for (const pages of sizes.memoryPages) {
    const events = Math.max(pages, sizes.memoryMinEvents);
    const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
    const topic = await filledTopic(env, res, events, distinctPageEvents(events, pages, minute, minute + MINUTE_MS - 1000));
    const runs = [];
    for (let rep = 0; rep < env.reps; rep++) {
      const run = await speedRun(env, res, topic, events, null);
      runs.push(run);
      const rss = Number(run['rss']);
      const baseline = Number(run['baselineRss']);
      env.say(
        `  ${pages.toLocaleString('en')} pages, rep ${rep + 1}: RSS ${(rss / MiB).toFixed(0)} MiB (state ${((rss - baseline) / MiB).toFixed(0)} MiB over the ` +
          `${(baseline / MiB).toFixed(0)} MiB baseline), gauge ${(run.stateBytes / MiB).toFixed(1)} MiB, peak RSS ${(run.maxRss / MiB).toFixed(0)} MiB, ${Math.round(run.eventsPerSec)} events/s`,
      );
    }
    const label = pages >= 1_000_000 ? `${pages / 1_000_000}M` : `${pages / 1000}k`;
    const budget = { name: `${BUDGET_MIB} MiB budget`, values: runs.map(() => BUDGET_MIB) };
    const live = figure(`Speed state, ${label} distinct pages (live heap + buffers over baseline)`, 'MiB', 'lower', runs.map((r) => (Number(r['live']) - Number(r['baselineLive'])) / MiB), { ...budget, meaning: 'state / budget' });
    const rss = figure(`Speed state, ${label} distinct pages (RSS over baseline)`, 'MiB', 'lower', runs.map((r) => (Number(r['rss']) - Number(r['baselineRss'])) / MiB), { ...budget, meaning: 'RSS growth / budget' });
    const gauge = figure(`Speed state, ${label} distinct pages (pv_speed_state_bytes)`, 'MiB', 'lower', runs.map((r) => r.stateBytes / MiB), { ...budget, meaning: 'gauge / budget' });
    if (pages === 1_000_000) {
      const met = live.value.max < BUDGET_MIB;
      live.target = {
        text: 'speed state < 256 MB with 1M distinct pages',
        met,
        why: `live heap + buffers over baseline ${live.value.max.toFixed(0)} MiB at most (RSS over baseline ${rss.value.max.toFixed(0)} MiB, gauge ${gauge.value.max.toFixed(1)} MiB)`,
      };
    }
    figures.push(live, rss, gauge, figure(`Speed worker peak RSS, ${label} distinct pages`, 'MiB', 'lower', runs.map((r) => r.maxRss / MiB)));
    details[`pages_${pages}`] = { events, runs };
  }
  return {
    id: 'memory',
    title: 'Speed-layer state memory',
    figures,
    details,
    notes: [
      'Every page appears at least once, all events in one minute bucket (4 partitions: about a quarter of the pages per partition, so 1M pages overflow the 100k exact keys per partition).',
      'Live state: V8 heap used + external memory (typed arrays of the sketches) after a full GC with all events applied and checkpointed, minus the same just before the speed layer started, in the same process. RSS over baseline is the same difference of RSS: an upper bound that also holds freed-but-kept heap pages and fetch buffers. The target is judged on the live state. No warm-up: memory is not JIT-sensitive.',
    ],
  };
}
