import { describe, expect, it, vi } from 'vitest';
import { VisitEnrichment } from '../../../collector/enrichment/index.ts';
import type { Logger } from '../../../shared/runtime/logger.ts';

// This process's shared table is built from a data directory that does not exist: the real
// worker runs and fails, as it would with fast-geoip's files missing or changed.
vi.mock('../../../collector/enrichment/country-table.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../collector/enrichment/country-table.ts')>();
  let shared: ReturnType<typeof original.loadCountryTable> | undefined;
  return { ...original, sharedCountryTable: () => (shared ??= original.loadCountryTable({ dataDir: '/nonexistent/fast-geoip/data' })) };
});

describe('VisitEnrichment when the country table cannot be built', () => {
  it('gives every other field, no country, status unavailable, and logs the failure once', async () => {
    const error = vi.fn();
    const logger = { info: vi.fn(), error } as unknown as Logger;
    const enrichments = [new VisitEnrichment({ logger }), new VisitEnrichment({ logger })];
    for (const enrichment of enrichments) {
      const fields = await enrichment.enrich({ pageUrl: 'https://example.com/?utm_source=news', screenWidth: 400, clientIp: '8.8.8.8' });
      expect(fields).toEqual({ source: 'news', utmSource: 'news', device: 'Mobile' });
      expect(await enrichment.geoipStatus()).toBe('unavailable');
      expect(enrichment.stats().countries).toMatchObject({ databaseLookups: 1, failures: 1 });
    }
    expect(error).toHaveBeenCalledTimes(1);
  });
});
