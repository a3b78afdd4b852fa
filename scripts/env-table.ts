/**
 * README's environment table, generated from the declaration in shared/runtime/environment.ts.
 * `npm run docs:env` rewrites the table between the env-table markers in README.md;
 * test/docs/readme.test.ts fails when README's table differs from `readmeWithEnvironmentTable()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENVIRONMENT_VARIABLES } from '../shared/runtime/environment.ts';

export const README = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'README.md');
const START = '<!-- env-table:start -->';
const END = '<!-- env-table:end -->';

/** One row per declared variable: Variable | Default | Meaning, the meaning ending with every rule of its value (Allowed: …). */
export function environmentTable(): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = Object.entries(ENVIRONMENT_VARIABLES).map(([name, v]) => {
    return `| \`${name}\` | ${cell(v.shown)} | ${cell(`${v.description} Allowed: ${v.kind.allowed}.`)} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** README.md with the text between the env-table markers replaced by the generated table. */
export function readmeWithEnvironmentTable(current: string = fs.readFileSync(README, 'utf8')): string {
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${README} needs the markers ${START} and ${END}, in that order`);
  return `${current.slice(0, start + START.length)}\n${environmentTable()}\n${current.slice(end)}`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const current = fs.readFileSync(README, 'utf8');
  const generated = readmeWithEnvironmentTable(current);
  if (generated === current) {
    console.log('README.md: the environment table is up to date');
  } else {
    fs.writeFileSync(README, generated);
    console.log('README.md: environment table rewritten from shared/runtime/environment.ts');
  }
}
