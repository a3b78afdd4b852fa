/**
 * Whatever text the validator accepts, both view stores keep unchanged (issue #12: a lone
 * surrogate got past the validator, ClickHouse refused the row and DuckDB stored U+FFFD).
 *
 * Property over arbitrary strings (with lone surrogates, non-characters, astral characters):
 * the candidates validatePageView accepts as pageId, visitorId, site or referrer go through the
 * batch layer's raw copy (appendRawEvents) and a batch build, and come back out of the store's
 * readers. The stores expose no reader of raw rows, so the text comes back through the readers
 * that return text: page ids (batchPageTotals) and sites (batchSites). Accepted visitor ids and
 * referrers are written into their own columns and, to be read back, as the page id `/<text>` of
 * a probe row too (every text column is the same String/VARCHAR type, inserted the same way).
 *
 * Known (DuckDB only): @duckdb/node-api decodes every VARCHAR it reads with a default
 * TextDecoder, which drops a leading U+FEFF. Stored text is intact; text read back that starts
 * with U+FEFF loses it. Page ids start with '/' and sites are slugs, so no reader is affected
 * today; the last test pins it (it.fails on DuckDB) so that a fix in duckdb-store.ts shows.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ClickHouseViewStore, DuckDbViewStore, type RawEventRow, type ViewStore } from '../../../shared/adapters/view-store/index.ts';
import { validatePageView } from '../../../shared/core/page-view.ts';
import { missingInfra, suiteName } from '../../support/infra.ts';

const HOUR = 3_600_000;
/** An hour well inside the accepted range; every probe row has this event time. */
const HOUR_START = Date.UTC(2026, 0, 31, 12);
const DAY_START = Date.UTC(2026, 0, 31);
const RUNS = 50;

/** One unit of text: mostly printable ASCII, any code point, a lone surrogate, or an edge case. */
const unit = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("'", '"', '\\', '`', '%', '\u00e9', '\u20ac', '\ufffd', '\ufeff', '\u2028', '\u{1f600}', '\u{10fffd}', '\ufdd0', '\uffff', '\u{1fffe}'),
  },
);
const candidates = fc.array(fc.string({ unit, maxLength: 30 }), { minLength: 1, maxLength: 12 });
/** Site ids are slugs: mostly slug characters, so some candidates pass. */
const siteCandidates = fc.array(
  fc.string({ unit: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('a', 'Z', '0', '.', '_', '-') }, { weight: 1, arbitrary: unit }), minLength: 1, maxLength: 12 }),
  { minLength: 1, maxLength: 6 },
);

const base = { eventId: '4b5c3f2e-8d2b-4a1e-9f3c-1a2b3c4d5e6f', pageId: '/p', visitorId: 'v', timestamp: HOUR_START };
/** The candidates that validatePageView accepts in `field` (the value it returns for them). */
function accepted(field: 'pageId' | 'visitorId' | 'site' | 'referrer', texts: string[]): string[] {
  return texts.flatMap((text) => {
    const result = validatePageView({ ...base, [field]: text });
    return result.ok ? [result.event[field] ?? ''] : [];
  });
}

function describeRoundTrip(name: string, open: () => Promise<{ store: ViewStore; cleanup: () => Promise<void> }>, skip?: string): void {
  describe.skipIf(skip !== undefined)(suiteName(`accepted text round-trips through ${name}`, skip), () => {
    let store: ViewStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
    });
    afterAll(async () => {
      await cleanup?.();
    });

    it('stores every accepted pageId, visitorId, site and referrer and reads it back unchanged', async () => {
      let acceptedTexts = 0;
      await fc.assert(
        fc.asyncProperty(candidates, candidates, siteCandidates, candidates, async (pageTexts, visitorTexts, siteTexts, referrerTexts) => {
          const pageIds = accepted('pageId', pageTexts.map((t) => `/${t}`));
          const visitorIds = accepted('visitorId', visitorTexts);
          const sites = accepted('site', siteTexts);
          const referrers = accepted('referrer', referrerTexts);
          acceptedTexts += pageIds.length + visitorIds.length + sites.length + referrers.length;
          // Page-id column values of the 'default' site: the pages, then the visitor ids and referrers as probes.
          const probes = [...pageIds, ...[...visitorIds, ...referrers].map((t) => `/${t}`)];
          const rows: RawEventRow[] = [];
          const row = (site: string, pageId: string, i: number): RawEventRow => ({
            partition: 0,
            offset: rows.length,
            eventId: randomUUID(),
            site,
            pageId,
            visitorId: visitorIds[i % Math.max(1, visitorIds.length)] ?? 'v',
            visitorHllIndex: 0,
            visitorHllRank: 1,
            eventTime: HOUR_START,
            referrer: referrers[i % Math.max(1, referrers.length)] ?? '',
            userAgent: '',
          });
          probes.forEach((pageId, i) => rows.push(row('default', pageId, i)));
          sites.forEach((site, i) => rows.push(row(site, '/site-probe', i)));
          if (rows.length === 0) return;

          await store.truncateRawCopy();
          await store.appendRawEvents(rows);
          const batchId = `b-${randomUUID()}`;
          await store.buildBatchViews(batchId, { cutoffTime: HOUR_START + HOUR, endOffsets: new Map([[0, rows.length]]) });
          const range = { from: HOUR_START, to: HOUR_START + HOUR };

          const counts = (texts: string[]): [string, number][] => {
            const m = new Map<string, number>();
            for (const t of texts) m.set(t, (m.get(t) ?? 0) + 1);
            return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
          };
          const pages = await store.batchPageTotals(batchId, { site: 'default', ...range });
          expect(counts(pages.flatMap((p) => Array<string>(p.views).fill(p.pageId)))).toEqual(counts(probes));
          const storedSites = await store.batchSites(batchId, DAY_START, DAY_START + 24 * HOUR);
          expect(storedSites.sort()).toEqual([...new Set([...(probes.length > 0 ? ['default'] : []), ...sites])].sort());
          // The text also works as a filter (escaped into SQL by the store).
          const first = probes[0];
          if (first !== undefined) {
            const views = await store.batchViews(batchId, { site: 'default', pageId: first, ...range });
            expect(views).toEqual([{ bucket: HOUR_START, views: probes.filter((p) => p === first).length }]);
          }
          // Distinct visitor ids stay distinct: none were merged (e.g. into U+FFFD) on the way in.
          if (probes.length > 0) {
            const visitors = await store.batchVisitors(batchId, { site: 'default', from: DAY_START, to: DAY_START + 24 * HOUR });
            expect(visitors).toBe(visitorIds.length === 0 ? 1 : new Set(visitorIds.slice(0, probes.length)).size);
          }
        }),
        { numRuns: RUNS },
      );
      expect(acceptedTexts).toBeGreaterThan(RUNS); // the property saw accepted text, not only rejections
    }, 120_000);

    (name === 'DuckDB' ? it.fails : it)('reads back text that starts with U+FEFF unchanged', async () => {
      const text = '\ufeffv';
      expect(accepted('visitorId', [text])).toEqual([text]);
      await store.truncateRawCopy();
      await store.appendRawEvents([
        { partition: 0, offset: 0, eventId: randomUUID(), site: 'default', pageId: text, visitorId: text, visitorHllIndex: 0, visitorHllRank: 1, eventTime: HOUR_START, referrer: text, userAgent: '' },
      ]);
      const batchId = `b-${randomUUID()}`;
      await store.buildBatchViews(batchId, { cutoffTime: HOUR_START + HOUR, endOffsets: new Map([[0, 1]]) });
      expect(await store.batchPageTotals(batchId, { site: 'default', from: HOUR_START, to: HOUR_START + HOUR })).toEqual([{ pageId: text, views: 1 }]);
    });

    it('never accepts a string with a lone surrogate in any of those fields', () => {
      const withLone = fc
        .tuple(fc.string({ unit, maxLength: 10 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ unit, maxLength: 10 }))
        .map(([a, s, b]) => `${a}${String.fromCharCode(s)}${b}`)
        .filter((s) => !(s as string & { isWellFormed(): boolean }).isWellFormed());
      fc.assert(
        fc.property(withLone, fc.constantFrom('pageId', 'visitorId', 'site', 'referrer'), (text, field) => {
          expect(accepted(field, [text, `/${text}`])).toEqual([]);
        }),
        { numRuns: 500 },
      );
    });
  });
}

describeRoundTrip('DuckDB', async () => {
  const store = await DuckDbViewStore.open({ path: ':memory:' });
  return { store, cleanup: () => store.close() };
});

const clickhouseSkip = missingInfra('ClickHouse');
describeRoundTrip(
  'ClickHouse',
  async () => {
    const store = new ClickHouseViewStore({ url: inject('infra').clickhouseUrl ?? '', database: `t_${randomUUID().replace(/-/g, '')}` });
    return {
      store,
      cleanup: async () => {
        await store.dropDatabase();
        await store.close();
      },
    };
  },
  clickhouseSkip,
);
