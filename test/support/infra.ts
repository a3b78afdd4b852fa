/**
 * What an integration suite needs from the real services, and why it is skipped without them.
 * The suite's name carries the reason, so the skip reporter (skip-reporter.ts) can list every
 * skipped suite with it. Clients are built in hooks, never while a file loads: a skipped suite
 * must not touch a service.
 */
import { inject } from 'vitest';

export type Service = 'Kafka' | 'ClickHouse';

/** Marks the names of suites skipped for want of a service; the skip reporter looks for it. */
export const SKIP_MARK = 'SKIPPED: needs';

/** Why a suite that needs `services` must be skipped, or undefined when all are reachable. */
export function missingInfra(...services: Service[]): string | undefined {
  const infra = inject('infra');
  const missing = services.flatMap((s) => {
    if (s === 'Kafka') return infra.kafkaBrokers === null ? [`Kafka at ${infra.kafkaTried}`] : [];
    return infra.clickhouseUrl === null ? [`ClickHouse at ${infra.clickhouseTried}`] : [];
  });
  return missing.length === 0 ? undefined : `${SKIP_MARK} ${missing.join(' and ')}, not reachable`;
}

/** A suite name that says why it was skipped, when it is. */
export function suiteName(name: string, skip: string | undefined): string {
  return skip === undefined ? name : `${name} (${skip})`;
}
