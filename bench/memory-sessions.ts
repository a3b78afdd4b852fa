/**
 * Memory of the speed layer's sessions (speed-layer/session-state.ts): bytes per active visitor.
 *
 *   npx tsx bench/memory-sessions.ts [visitors]     (default 1,000,000)
 *
 * Standalone, or on request in bench/run.ts (`--only memory-sessions`, each repetition in a
 * worker process: bench/worker.ts, role session-memory). Standalone, it runs itself again under
 * `--expose-gc` when started without it. One SessionState (no byte budget, the default 10-minute hot window, a wall clock at
 * each event's time) is given:
 *
 *  1. one page view each for `visitors` distinct visitors (ids as the collector makes them: 32 hex
 *     digits), over 10 sites, each site's visitors over 1,000 pages (`/blog/post-123`, uniform), in
 *     time order over the 20 minutes before the clock (the first 10 of them), so that no session
 *     is closed;
 *  2. each visitor's second page view, 10 minutes after its first, on another page: every
 *     session is extended (exit page and start-minute sums change).
 *
 * Each event is encoded and decoded from bytes as the speed layer reads it, and dropped once
 * applied: what stays alive is what the state keeps. After each phase the state is checkpointed
 * (snapshot, then `checkpointed`, which runs an eviction pass; the snapshot is dropped) and the
 * live heap (V8 heap used + array buffers, after a full GC) is compared with the one before the
 * first phase. It gives (standalone: prints as JSON) heap bytes per visitor (measured), the state's own estimate
 * (`memoryBytes`, what it accounts in the byte budget) per visitor, their ratio, and the apply
 * rate (events/s, `apply` alone: decoding is timed apart).
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { visitorIdFrom } from '../collector/visitor-salts.ts';
import { decodePageView, encodePageView, type PageView } from '../shared/core/page-view.ts';
import { ByteBudget } from '../speed-layer/partition-state.ts';
import { SessionState } from '../speed-layer/session-state.ts';

const SITES = 10;
const PAGES = 1000;
const MINUTE_MS = 60_000;
/** Events are made, decoded and applied this many at a time (the batch is dropped after). */
const BATCH = 10_000;

export interface SessionMemoryPhase {
  heapBytesPerVisitor: number;
  /** Of which V8 heap (objects) and array buffers (the open-session columns and index). */
  heapUsedPerVisitor: number;
  arrayBuffersPerVisitor: number;
  estimatedBytesPerVisitor: number;
  estimateOverMeasured: number;
  applyEventsPerSec: number;
  activeVisitors: number;
}

function live(): { heapUsed: number; arrayBuffers: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

/** A checkpoint as the speed layer takes one: the snapshot (written, here dropped), then `checkpointed`. */
function checkpoint(state: SessionState): void {
  state.checkpointed(state.snapshot());
}

export interface SessionMemory {
  visitors: number;
  sites: number;
  pages: number;
  node: string;
  /** The first phase's (one page view per visitor). */
  heapBytesPerVisitor: number;
  estimatedBytesPerVisitor: number;
  estimateOverMeasured: number;
  applyEventsPerSec: number;
  firstEvent: SessionMemoryPhase;
  secondEvent: SessionMemoryPhase;
}

/** Measures one SessionState with `visitors` active visitors; needs `--expose-gc`. */
export function sessionMemory(visitors: number): SessionMemory {
  if (typeof globalThis.gc !== 'function') throw new Error('sessionMemory needs node --expose-gc');
  const now = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
  // The wall clock follows the events, as when they arrive live: their minutes are resident when
  // first counted (the default 10-minute hot window), and stay so while sessions start in them.
  let clock = now - 20 * MINUTE_MS;
  const state = new SessionState({ hotWindowMs: 10 * MINUTE_MS, now: () => clock }, new ByteBudget(Number.POSITIVE_INFINITY));
  const salt = 'bench-salt';
  const site = (i: number): string => `site-${i % SITES}.example`;
  const visitorId = (i: number): string => visitorIdFrom(salt, site(i), `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, 'Mozilla/5.0 (bench)');
  // First page views over [now − 20 min, now − 10 min); second ones 10 minutes after each.
  const first = (i: number): PageView => ({
    schemaVersion: 1,
    eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    site: site(i),
    visitorId: visitorId(i),
    pageId: `/blog/post-${Math.floor(i / SITES) % PAGES}`,
    timestamp: now - 20 * MINUTE_MS + Math.floor((i * 10 * MINUTE_MS) / visitors),
  });
  const second = (i: number): PageView => ({
    ...first(i),
    eventId: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
    pageId: `/blog/post-${(Math.floor(i / SITES) * 7 + 13) % PAGES}`,
    timestamp: now - 10 * MINUTE_MS + Math.floor((i * 10 * MINUTE_MS) / visitors),
  });
  const before = live();

  /** Applies one event per visitor and checkpoints; returns the ms spent in `apply`. */
  const run = (make: (i: number) => PageView): number => {
    let applyMs = 0;
    for (let from = 0; from < visitors; from += BATCH) {
      const events: PageView[] = [];
      for (let i = from; i < Math.min(visitors, from + BATCH); i++) {
        const decoded = decodePageView(Buffer.from(encodePageView(make(i))));
        if (!decoded.ok) throw new Error(`event ${i} does not decode`);
        events.push(decoded.event);
      }
      const t = performance.now();
      for (const e of events) {
        clock = e.timestamp;
        state.apply(e, true);
      }
      applyMs += performance.now() - t;
    }
    checkpoint(state);
    return applyMs;
  };
  // Measured here, in a frame that never held an event batch or a snapshot (a frame still holding
  // one keeps it alive through the GC: the snapshot of 10^5 open sessions is ~40 MB).
  const phase = (make: (i: number) => PageView): SessionMemoryPhase => {
    const applyMs = run(make);
    const after = live();
    const heapUsed = after.heapUsed - before.heapUsed;
    const arrayBuffers = after.arrayBuffers - before.arrayBuffers;
    const measured = (heapUsed + arrayBuffers) / visitors;
    const estimated = state.memoryBytes / visitors;
    return {
      heapBytesPerVisitor: Math.round(measured * 10) / 10,
      heapUsedPerVisitor: Math.round((heapUsed / visitors) * 10) / 10,
      arrayBuffersPerVisitor: Math.round((arrayBuffers / visitors) * 10) / 10,
      estimatedBytesPerVisitor: Math.round(estimated * 10) / 10,
      estimateOverMeasured: Math.round((estimated / measured) * 1000) / 1000,
      applyEventsPerSec: Math.round(visitors / (applyMs / 1000)),
      activeVisitors: state.activeVisitors,
    };
  };

  const firstEvent = phase(first);
  const secondEvent = phase(second);
  if (firstEvent.activeVisitors !== visitors || secondEvent.activeVisitors !== visitors) throw new Error('sessions were closed: the figures would not be per active visitor');
  return {
    visitors,
    sites: SITES,
    pages: PAGES,
    node: process.version,
    heapBytesPerVisitor: firstEvent.heapBytesPerVisitor,
    estimatedBytesPerVisitor: firstEvent.estimatedBytesPerVisitor,
    estimateOverMeasured: firstEvent.estimateOverMeasured,
    applyEventsPerSec: firstEvent.applyEventsPerSec,
    firstEvent,
    secondEvent,
  };
}

// Standalone: `npx tsx bench/memory-sessions.ts [visitors]` (not when imported by the worker).
const self = fileURLToPath(import.meta.url);
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === self) {
  const visitors = Number(process.argv[2] ?? 1_000_000);
  if (!Number.isInteger(visitors) || visitors <= 0) {
    console.error('usage: npx tsx bench/memory-sessions.ts [visitors]');
    process.exit(2);
  }
  if (typeof globalThis.gc !== 'function') {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, String(visitors)], { stdio: 'inherit' });
    process.exit(child.status ?? 1);
  }
  console.log(JSON.stringify(sessionMemory(visitors), null, 2));
}
