/**
 * The module graph of the product code, read from its imports: which folder depends on which,
 * and the import rules that keep the layers apart. `npm run docs:architecture` writes the
 * graph into docs/architecture.md; test/docs/architecture.test.ts fails when that page is out
 * of date or when a rule is broken.
 *
 * Rules:
 * 1. A layer (collector, speed-layer, batch-layer, serving-layer) imports another layer only
 *    through that layer's index.ts, its public interface.
 * 2. shared/ never imports a layer or cli/.
 * 3. shared/core imports neither shared/runtime nor shared/tools; shared/adapters does not
 *    import shared/tools.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_FOLDERS = ['collector', 'speed-layer', 'batch-layer', 'serving-layer', 'cli', 'shared'];
const LAYERS = new Set(['collector', 'speed-layer', 'batch-layer', 'serving-layer']);
const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g;

export interface ImportEdge {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(rel));
    else if (entry.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Every relative import between product source files (repo-relative paths). */
export function importEdges(): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of SOURCE_FOLDERS.flatMap(sourceFiles)) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const match of text.matchAll(IMPORT_RE)) {
      edges.push({ from: file, to: path.normalize(path.join(path.dirname(file), match[1]!)) });
    }
  }
  return edges;
}

/** The module a file belongs to: a layer folder, cli, or a folder of shared/ (its kind, or a sub-folder of it). */
export function moduleOf(file: string): string {
  const parts = file.split(path.sep);
  if (parts[0] !== 'shared') return parts[0]!;
  return parts.length > 3 ? parts.slice(0, 3).join('/') : parts.slice(0, 2).join('/');
}

/** The imports that break a rule, each with the rule it breaks. */
export function ruleViolations(edges: ImportEdge[] = importEdges()): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = from.split(path.sep);
    const b = to.split(path.sep);
    if (LAYERS.has(a[0]!) && LAYERS.has(b[0]!) && a[0] !== b[0] && b.slice(1).join('/') !== 'index.ts') {
      out.push(`${from} imports ${to}: another layer's internals (import ${b[0]}/index.ts)`);
    }
    if (a[0] === 'shared' && (LAYERS.has(b[0]!) || b[0] === 'cli')) out.push(`${from} imports ${to}: shared/ may not depend on a layer`);
    if (a[0] === 'shared' && a[1] === 'core' && b[0] === 'shared' && (b[1] === 'runtime' || b[1] === 'tools')) {
      out.push(`${from} imports ${to}: the core may not depend on shared/${b[1]}`);
    }
    if (a[0] === 'shared' && a[1] === 'adapters' && b[0] === 'shared' && b[1] === 'tools') out.push(`${from} imports ${to}: adapters may not depend on shared/tools`);
  }
  return out;
}

/** The graph as markdown lines: "- `a` → `b`, `c`", modules in a fixed order. */
export function graphMarkdown(edges: ImportEdge[] = importEdges()): string {
  const deps = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = moduleOf(from);
    const b = moduleOf(to);
    if (!deps.has(a)) deps.set(a, new Set());
    if (a !== b) deps.get(a)!.add(b);
  }
  return [...deps.keys()]
    .sort()
    .map((m) => `- \`${m}\` → ${deps.get(m)!.size === 0 ? '(nothing)' : [...deps.get(m)!].sort().map((d) => `\`${d}\``).join(', ')}`)
    .join('\n');
}

const START = '<!-- import-graph:start -->';
const END = '<!-- import-graph:end -->';
export const ARCHITECTURE_DOC = path.join(ROOT, 'docs', 'architecture.md');

/** docs/architecture.md with its graph section replaced by the current graph. */
export function architectureDoc(current: string = fs.readFileSync(ARCHITECTURE_DOC, 'utf8')): string {
  const [before, rest] = current.split(START);
  const after = rest?.split(END)[1];
  if (before === undefined || after === undefined) throw new Error(`${ARCHITECTURE_DOC} lacks the ${START} … ${END} markers`);
  return `${before}${START}\n${graphMarkdown()}\n${END}${after}`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const violations = ruleViolations();
  fs.writeFileSync(ARCHITECTURE_DOC, architectureDoc());
  console.log(`wrote the import graph into ${path.relative(ROOT, ARCHITECTURE_DOC)}`);
  if (violations.length > 0) {
    console.error(`import rules broken:\n${violations.join('\n')}`);
    process.exit(1);
  }
}
