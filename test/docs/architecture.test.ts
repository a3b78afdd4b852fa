/** docs/architecture.md's import graph is the code's, and the import rules between layers hold. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURE_DOC, architectureDoc, importEdges, ruleViolations } from '../../scripts/architecture.ts';

describe('architecture', () => {
  it('no import breaks a layer rule', () => {
    expect(importEdges().length).toBeGreaterThan(100);
    expect(ruleViolations()).toEqual([]);
  });

  it('the rules catch a layer reaching into another layer, and shared/ reaching into a layer', () => {
    expect(
      ruleViolations([
        { from: 'collector/collector.ts', to: 'serving-layer/api-error.ts' },
        { from: 'serving-layer/batch-routes.ts', to: 'batch-layer/index.ts' },
        { from: 'shared/tools/workload.ts', to: 'speed-layer/index.ts' },
        { from: 'shared/core/page-view.ts', to: 'shared/runtime/config.ts' },
      ]),
    ).toEqual([
      "collector/collector.ts imports serving-layer/api-error.ts: another layer's internals (import serving-layer/index.ts)",
      'shared/tools/workload.ts imports speed-layer/index.ts: shared/ may not depend on a layer',
      'shared/core/page-view.ts imports shared/runtime/config.ts: the core may not depend on shared/runtime',
    ]);
  });

  it('docs/architecture.md shows the current import graph (npm run docs:architecture updates it)', () => {
    expect(fs.readFileSync(ARCHITECTURE_DOC, 'utf8')).toBe(architectureDoc());
  });
});
