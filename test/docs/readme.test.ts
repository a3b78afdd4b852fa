/** README is the contract: its environment table and examples are checked against the code. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES } from '../../shared/runtime/environment.ts';
import { readmeWithEnvironmentTable } from '../../scripts/env-table.ts';
import { validatePageView } from '../../shared/core/page-view.ts';

const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('its environment table is the one generated from the declaration (npm run docs:env)', () => {
    // Compared line by line, so a failure shows the rows that differ.
    expect(readme.split('\n'), 'README.md\'s environment table is out of date: run `npm run docs:env`').toEqual(
      readmeWithEnvironmentTable(readme).split('\n'),
    );
  });

  it('its environment table has a row per declared variable, with its default', () => {
    const table = readme.split('<!-- env-table:start -->')[1]?.split('<!-- env-table:end -->')[0] ?? '';
    const rows = table
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split(' | ').map((c) => c.replace(/^\| |`/g, '')));
    expect(rows.map(([name]) => name)).toEqual(Object.keys(ENVIRONMENT_VARIABLES));
    expect(rows[0]?.[1]).toBe(String(ENVIRONMENT_VARIABLES.PORT.default));
  });

  it('its environment table states the rules of every variable (an Allowed clause in every row)', () => {
    const table = readme.split('<!-- env-table:start -->')[1]?.split('<!-- env-table:end -->')[0] ?? '';
    const rows = table.split('\n').filter((l) => l.startsWith('| `'));
    expect(rows).toHaveLength(Object.keys(ENVIRONMENT_VARIABLES).length);
    for (const [name, v] of Object.entries(ENVIRONMENT_VARIABLES)) {
      const row = rows.find((l) => l.startsWith(`| \`${name}\` |`)) ?? '';
      expect(v.kind.allowed, name).not.toBe('');
      expect(row, name).toContain(` Allowed: ${v.kind.allowed.replace(/\|/g, '\\|')}. |`);
    }
  });

  it('shows the two quick-start commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
  });

  it('its collector example is a valid event', () => {
    const match = /-d '(\{"eventId".*?\})'/.exec(readme);
    expect(match).not.toBeNull();
    expect(validatePageView(JSON.parse(match?.[1] ?? 'null')).ok).toBe(true);
  });
});
