/**
 * `npm run compare -- [--from 2026-11-20T00:00:00Z --to 2026-11-27T00:00:00Z] [--page /pricing] [--site default] [--interval hour|day] [--json]`
 * Speed and batch side by side per bucket, for the buckets both cover (default: the last 7 days).
 *
 * It prints GET /api/v1/compare's answer: asked of `npm start` when it holds DATA_DIR (the
 * embedded default), else computed here from the store, by the same function.
 */
import { compareAnswer, compareQuery, type CompareAnswer } from '../serving-layer/index.ts';
import { openViewStore } from '../shared/runtime/backends.ts';
import { loadConfig } from '../shared/runtime/config.ts';
import { asQuery, parseInput } from '../shared/runtime/http/validate.ts';
import { runCli } from './args.ts';
import { COMPARE_USAGE, parseCompareFlags } from './flags.ts';
import { openingDataDir, serverHoldingDataDir } from './running-server.ts';

const pct = (x: number | null): string => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);

void runCli(async () => {
  const flags = parseCompareFlags(process.argv.slice(2));
  if (flags.help) {
    console.log(COMPARE_USAGE);
    return 0;
  }
  // The API's parameters: the flags are checked already, the query schema applies the same defaults.
  const params: Record<string, string> = { site: flags.site, interval: flags.interval };
  if (flags.page !== undefined) params['page'] = flags.page;
  if (flags.from !== undefined) params['from'] = new Date(flags.from).toISOString();
  if (flags.to !== undefined) params['to'] = new Date(flags.to).toISOString();

  const config = loadConfig(process.env);
  const server = await serverHoldingDataDir(config, { duckdb: true });
  let answer: CompareAnswer;
  if (server !== null) {
    answer = await server.request<CompareAnswer>('GET', `/api/v1/compare?${new URLSearchParams(params).toString()}`);
  } else {
    const store = await openingDataDir(config, () => openViewStore(config));
    try {
      await store.migrate();
      answer = await compareAnswer(store, parseInput(asQuery(compareQuery), params), Date.now());
    } finally {
      await store.close();
    }
  }
  if (flags.json) console.log(JSON.stringify(answer, null, 2));
  else for (const line of reportLines(answer)) console.log(line);
  return 0;
});

/** The answer as a table, with the visitors' and the sessions' lines; or the sentence that says why there is nothing to compare. */
function reportLines(c: CompareAnswer): string[] {
  if (c.nothingToCompare !== null) return [`nothing to compare: ${c.nothingToCompare}`];
  const out = [`speed vs batch, site ${c.site}${c.page === null ? '' : `, page ${c.page}`}, ${c.interval} buckets, ${c.comparedFrom} .. ${c.comparedTo}`];
  const header = ['bucket', 'batch', 'speed', 'diff', 'rel', 'bound', 'within'];
  const lines = c.rows.map((r) => [r.bucket, String(r.batch), String(r.speed), String(r.difference), pct(r.relativeDifference), String(r.overcountBound), r.withinBound ? 'yes' : 'NO']);
  lines.push(['total', String(c.totals.batch), String(c.totals.speed), String(c.totals.difference), pct(c.totals.relativeDifference), '', c.totals.withinBound ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  out.push(fmt(header), ...lines.map(fmt));
  if (c.visitors === null) out.push('visitors: compared over whole UTC days only (give --from and --to on day boundaries)');
  else {
    out.push(
      `visitors: batch ${c.visitors.batch}, speed ${c.visitors.speed} (${pct(c.visitors.relativeDifference)}; ±${pct(c.visitors.relativeStandardError)} standard error) ` +
        (c.visitors.withinBound ? 'within 3 standard errors' : 'OUTSIDE 3 standard errors'),
    );
  }
  if (c.sessions !== null) {
    const { batch, speed } = c.sessions;
    out.push(
      `visits: batch ${batch.visits}, speed ${speed.visits} (${pct(c.sessions.visitsRelativeDifference)}); ` +
        `bounce rate: batch ${batch.bounceRate}%, speed ${speed.bounceRate}% (${c.sessions.bounceRateDifference >= 0 ? '+' : ''}${c.sessions.bounceRateDifference} points)`,
    );
  }
  return out;
}
