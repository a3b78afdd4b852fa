/**
 * A ground-truth sessionizer, written independently of shared/core/sessions.ts for tests: all
 * events at once, deduplicated by eventId, grouped per (site, visitor), sorted by time then page,
 * split where more than 30 minutes pass between consecutive events.
 */
export interface TruthEvent {
  eventId?: string;
  site: string;
  visitorId: string;
  pageId: string;
  timestamp: number;
}

export interface TruthSession {
  site: string;
  visitorId: string;
  start: number;
  end: number;
  pageviews: number;
  entryPage: string;
  exitPage: string;
}

const THIRTY_MINUTES = 1_800_000;

export function truthSessions(events: readonly TruthEvent[]): TruthSession[] {
  const seen = new Set<string>();
  const byVisitor = new Map<string, TruthEvent[]>();
  for (const e of events) {
    if (e.eventId !== undefined) {
      if (seen.has(e.eventId)) continue;
      seen.add(e.eventId);
    }
    const key = JSON.stringify([e.site, e.visitorId]);
    const list = byVisitor.get(key) ?? [];
    list.push(e);
    byVisitor.set(key, list);
  }
  const out: TruthSession[] = [];
  for (const list of byVisitor.values()) {
    list.sort((a, b) => a.timestamp - b.timestamp || (a.pageId < b.pageId ? -1 : a.pageId > b.pageId ? 1 : 0));
    let current: TruthSession | null = null;
    for (const e of list) {
      if (current !== null && e.timestamp - current.end <= THIRTY_MINUTES) {
        current.end = e.timestamp;
        current.pageviews += 1;
        current.exitPage = e.pageId;
        continue;
      }
      current = { site: e.site, visitorId: e.visitorId, start: e.timestamp, end: e.timestamp, pageviews: 1, entryPage: e.pageId, exitPage: e.pageId };
      out.push(current);
    }
  }
  return out;
}

export interface TruthTotals {
  visits: number;
  bounces: number;
  durationMs: number;
  pageviews: number;
}

/** The sums of the sessions that start in [from, to), optionally only those with an entry (or exit) page. */
export function truthTotals(
  sessions: readonly TruthSession[],
  where: { site?: string; from?: number; to?: number; entryPage?: string; exitPage?: string } = {},
): TruthTotals {
  const t: TruthTotals = { visits: 0, bounces: 0, durationMs: 0, pageviews: 0 };
  for (const s of sessions) {
    if (where.site !== undefined && s.site !== where.site) continue;
    if (where.from !== undefined && s.start < where.from) continue;
    if (where.to !== undefined && s.start >= where.to) continue;
    if (where.entryPage !== undefined && s.entryPage !== where.entryPage) continue;
    if (where.exitPage !== undefined && s.exitPage !== where.exitPage) continue;
    t.visits += 1;
    t.bounces += s.pageviews === 1 ? 1 : 0;
    t.durationMs += s.end - s.start;
    t.pageviews += s.pageviews;
  }
  return t;
}
