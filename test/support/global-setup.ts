/**
 * Checks (does not start) the real services. The infra script starts them; this only
 * says which are reachable, so integration suites run or skip, loudly.
 * REQUIRE_INFRA=1 turns a missing service into a failed run.
 */
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { probeInfra, type InfraStatus } from './infra-probe.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    infra: InfraStatus;
  }
}

let status: InfraStatus;

export async function setup(project: TestProject): Promise<void> {
  status = await probeInfra(process.env);
  const missing = [
    status.kafkaBrokers === null ? `Kafka (${status.kafkaTried})` : null,
    status.clickhouseUrl === null ? `ClickHouse (${status.clickhouseTried})` : null,
  ].filter((m): m is string => m !== null);
  if (missing.length > 0) {
    const message = `integration suites need ${missing.join(' and ')}: not reachable. Start them with 'npm run infra:up'.`;
    if (process.env['REQUIRE_INFRA'] === '1') {
      throw new Error(`REQUIRE_INFRA=1 but ${message}`);
    }
  }
  project.provide('infra', status);
}

/** The banner is printed once per run, though each test project (vitest.config.ts) loads this module and tears down. */
const WARNED = Symbol.for('pageview-lambda.skip-banner-printed');

export function teardown(): void {
  const process_ = globalThis as { [WARNED]?: boolean };
  if (process_[WARNED] === true) return;
  process_[WARNED] = true;
  const skipped: string[] = [];
  if (status?.kafkaBrokers === null) skipped.push(`Kafka at ${status.kafkaTried}`);
  if (status?.clickhouseUrl === null) skipped.push(`ClickHouse at ${status.clickhouseTried}`);
  if (skipped.length > 0) {
    const line = '!'.repeat(78);
    console.warn(
      `\n${line}\n!! SKIPPED: integration suites against ${skipped.join(' and ')} (not reachable).\n` +
        `!! Run 'npm run infra:up' first, or REQUIRE_INFRA=1 to make this a failure.\n${line}\n`,
    );
  }
}
