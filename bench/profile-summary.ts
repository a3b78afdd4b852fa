/**
 * `npx tsx bench/profile-summary.ts <file.cpuprofile> [top]`: the functions and files with the
 * most self time in a V8 CPU profile (as written by `npm run bench -- --profile`).
 * `profileSummary` gives the same as data, for the results file and BENCHMARKS.md.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** One function (or file) and its self time. */
export interface SelfTime {
  /** `name file:line`, or the file / `(native)` entry for files. */
  name: string;
  selfMs: number;
  /** Share of the profiled wall time, in percent. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Wall time the profile covers. */
  profiledMs: number;
  samples: number;
  functions: SelfTime[];
  files: SelfTime[];
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('node_modules/');
  if (nm >= 0) return clean.slice(nm + 'node_modules/'.length);
  if (clean.startsWith('node:')) return clean;
  return path.relative(process.cwd(), clean);
}

/** The `top` functions and files with the most self time in a .cpuprofile file. */
export async function profileSummary(file: string, top = 10): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i] ?? 0));
  const total = profile.endTime - profile.startTime;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = shortUrl(url);
    const fn = `${functionName || '(anonymous)'} ${where}${url === '' ? '' : `:${lineNumber + 1}`}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const module = url === '' ? `(${functionName || 'native'})` : where;
    byFile.set(module, (byFile.get(module) ?? 0) + us);
  }
  const list = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, percent: total > 0 ? Math.round((1000 * us) / total) / 10 : Number.NaN }));
  return { file, profiledMs: Math.round(total / 1000), samples: samples.length, functions: list(byFunction), files: list(byFile) };
}

/** The summary as text lines (the command's output). */
export async function summarizeProfile(file: string, top = 25): Promise<string> {
  const s = await profileSummary(file, top);
  const lines = (list: SelfTime[]): string[] =>
    list.map((t) => `${t.percent.toFixed(1).padStart(5)}%  ${t.selfMs.toFixed(0).padStart(7)} ms  ${t.name}`);
  return [`${file}: ${(s.profiledMs / 1000).toFixed(1)} s profiled`, 'self time by function:', ...lines(s.functions), 'self time by file:', ...lines(s.files)].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(await summarizeProfile(file, Number(top ?? 25)));
}
