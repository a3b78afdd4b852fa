/**
 * Versioned schema: sql/<engine>/NNN_description.sql, applied in order, each once,
 * recorded in `schema_migrations`.
 */
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

const SQL_ROOT = fileURLToPath(new URL('../../../sql/', import.meta.url));
const FILE_RE = /^(\d{3})_([a-z0-9_]+)\.sql$/;

/** Splits a migration file into statements: `;` at the end of a line ends one; `--` lines are comments. */
export function splitStatements(text: string): string[] {
  const withoutComments = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export async function loadMigrations(engine: 'clickhouse' | 'duckdb'): Promise<Migration[]> {
  const dir = `${SQL_ROOT}${engine}/`;
  const files = (await fs.readdir(dir)).filter((f) => FILE_RE.test(f)).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const match = FILE_RE.exec(file);
    if (match === null) continue;
    const text = await fs.readFile(dir + file, 'utf8');
    out.push({ version: Number(match[1]), name: match[2] ?? file, statements: splitStatements(text) });
  }
  return out;
}
