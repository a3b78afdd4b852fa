/**
 * Lists, at the end of a run, every suite or test that was skipped and why (the reason is in
 * its name: see infra.ts), so a run without Kafka or ClickHouse says exactly what it did not
 * check.
 */
import type { Reporter, TestModule, TestSuite, TestCase } from 'vitest/node';

type Child = TestSuite | TestCase;

function skippedIn(children: Iterable<Child>, trail: string[], out: string[]): void {
  for (const child of children) {
    const name = [...trail, child.name];
    if (child.options.mode === 'skip') {
      out.push(name.join(' › '));
    } else if (child.type === 'suite') {
      skippedIn(child.children, name, out);
    }
  }
}

export default class SkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    for (const module of testModules) {
      const skipped: string[] = [];
      skippedIn(module.children, [], skipped);
      for (const s of skipped) lines.push(`  ↓ ${module.moduleId.replace(`${process.cwd()}/`, '')} › ${s}`);
    }
    if (lines.length === 0) return;
    console.warn(`\nSkipped suites and tests (${lines.length}), each with its reason:\n${lines.join('\n')}\n`);
  }
}
