/**
 * `npm run compare -- --from 2026-11-20T00:00:00Z --to 2026-11-27T00:00:00Z [--page /pricing] [--site default] [--interval hour|day] [--json]`
 * Speed and batch side by side per bucket, for the buckets both cover.
 */
import { compareSpeedBatch } from '../shared/core/query/index.ts';
import { openViewStore } from '../shared/runtime/backends.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { runCli } from './args.ts';
import { COMPARE_USAGE, parseCompareFlags } from './flags.ts';

const pct = (x: number | null): string => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);

void runCli(async () => {
  const flags = parseCompareFlags(process.argv.slice(2));
  if (flags.help) {
    console.log(COMPARE_USAGE);
    return 0;
  }
  const { from, to, interval, page, site } = flags;

  const config = loadConfig(process.env);
  const store = await openViewStore(config);
  try {
    await store.migrate();
    const boundary = await store.latestBoundary();
    const c = await compareSpeedBatch(store, { site, ...(page === undefined ? {} : { pageId: page }), from, to, interval }, boundary);
    if (flags.json) {
      console.log(JSON.stringify({ ...c, rows: c.rows.map((r) => ({ ...r, bucket: new Date(r.bucket).toISOString() })) }, null, 2));
      return 0;
    }
    if (boundary === null) {
      console.log('no successful batch run yet: nothing to compare');
      return 0;
    }
    if (c.from >= c.to) {
      // Not "within: yes" over nothing: say which side leaves no bucket to compare.
      const retainedFrom = await store.speedRetainedFrom();
      const iso = (ms: number): string => new Date(ms).toISOString();
      console.log(
        `nothing to compare: no whole ${interval} of ${iso(from)} .. ${iso(to)} is held by both layers ` +
          `(the batch layer is exact through ${iso(boundary.cutoffTime)}; the speed layer keeps its views ${retainedFrom === null ? 'since it started' : `from ${iso(retainedFrom)}`}). ` +
          'Give --from and --to before the boundary, within the speed layer\'s retention.',
      );
      return 0;
    }
    console.log(`speed vs batch, site ${site}${page === undefined ? '' : `, page ${page}`}, ${interval} buckets, ${new Date(c.from).toISOString()} .. ${new Date(c.to).toISOString()}`);
    const header = ['bucket', 'batch', 'speed', 'diff', 'rel', 'bound', 'within'];
    const lines = c.rows.map((r) => [new Date(r.bucket).toISOString(), String(r.batch), String(r.speed), String(r.difference), pct(r.relativeDifference), String(r.overcountBound), r.withinBound ? 'yes' : 'NO']);
    lines.push(['total', String(c.totals.batch), String(c.totals.speed), String(c.totals.difference), pct(c.totals.relativeDifference), '', c.totals.withinBound ? 'yes' : 'NO']);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const fmt = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
    console.log(fmt(header));
    for (const l of lines) console.log(fmt(l));
    if (c.visitors === null) console.log('visitors: compared over whole UTC days only (give --from and --to on day boundaries)');
    else {
      console.log(
        `visitors: batch ${c.visitors.batch}, speed ${c.visitors.speed} (${pct(c.visitors.relativeDifference)}; ±${pct(c.visitors.relativeStandardError)} standard error) ` +
          (c.visitors.withinBound ? 'within 3 standard errors' : 'OUTSIDE 3 standard errors'),
      );
    }
    if (c.sessions !== null) {
      const { batch, speed } = c.sessions;
      console.log(
        `visits: batch ${batch.visits}, speed ${speed.visits} (${pct(c.sessions.visitsRelativeDifference)}); ` +
          `bounce rate: batch ${batch.bounceRate}%, speed ${speed.bounceRate}% (${c.sessions.bounceRateDifference >= 0 ? '+' : ''}${c.sessions.bounceRateDifference} points)`,
      );
    }
  } finally {
    await store.close();
  }
  return 0;
});
