import { defineConfig } from 'vitest/config';

/**
 * The fault suite, `npm run test:faults` (real Kafka and ClickHouse; .ci/run runs it after
 * the main suite): restarts, SIGKILLs, a frozen ClickHouse, poison records, a query flood.
 * Files run one at a time, because some faults (a broker restart) hit the shared services.
 * Each case prints its figure. test/faults/ holds the cases that may only run here; the
 * others also run in `npm test`.
 */
export default defineConfig({
  test: {
    include: [
      'test/faults/**/*.test.ts',
      'test/batch-layer/batch-kill.test.ts',
      'test/batch-layer/batch-store-down.test.ts',
      'test/integration/speed-layer-kafka-faults.test.ts',
      'test/integration/speed-sessions-kafka-faults.test.ts',
      'test/integration/poison-*.test.ts',
      'test/serving-layer/degraded-clickhouse.test.ts',
    ],
    globalSetup: ['test/support/global-setup.ts'],
    reporters: ['default', './test/support/skip-reporter.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
