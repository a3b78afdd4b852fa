import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    // The default summary, then every skipped suite with its reason.
    reporters: ['default', './test/support/skip-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites share one Kafka broker and one ClickHouse server on a 2-core
    // machine; isolation is by topic/database name, parallelism is kept modest.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          // test/faults/ (a broker restart, an RSS-measured query flood) runs only in the fault suite
          // (vitest.faults.config.ts, npm run test:faults), one file at a time.
          exclude: ['test/faults/**', 'test/browser/**', '**/node_modules/**'],
        },
      },
      {
        // The real-browser suites (chromium, and the product's entry point in a process of its
        // own) load both cores: they run after the others, not beside suites that time things.
        extends: true,
        test: { name: 'browser', include: ['test/browser/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
