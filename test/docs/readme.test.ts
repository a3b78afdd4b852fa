/** README is the contract: its environment table and examples are checked against the code. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_VARIABLES } from '../../shared/runtime/config.ts';
import { validatePageView } from '../../shared/core/page-view.ts';

const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every environment variable the code reads, with the same default and meaning', () => {
    const table = readme.split('<!-- env-table:start -->')[1]?.split('<!-- env-table:end -->')[0] ?? '';
    const rows = table
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    const documented = Object.fromEntries(rows.map(([name, def, meaning]) => [name?.replace(/`/g, ''), { default: def, description: meaning }]));
    expect(documented).toEqual(ENVIRONMENT_VARIABLES);
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
