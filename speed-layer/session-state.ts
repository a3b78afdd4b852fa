/**
 * The speed layer's sessions (visits) for one log partition, by the one definition in
 * shared/core/sessions.ts:
 *
 *  - each visitor's open session (its latest), keyed by (site, visitorId): start, end, page
 *    views, entry and exit page, and the hash of the last event applied, so that an immediate
 *    redelivery of that event (same eventId) is dropped rather than counted as a page view;
 *  - running sums ({@link SessionTotals}) by the minute of each session's start: per (site,
 *    minute), per (site, entry page, minute) and per (site, exit page, minute). When an event
 *    extends a session, the session's old contribution is retracted and the new one added
 *    (`addToSession`), so the sums are right while sessions are still open. A retract and its
 *    add may be in different minutes: a late event inside the gap before a session moves its
 *    start. Sums may go to zero (or below, for the correction of a session the batch layer
 *    counted); an all-zero entry is dropped once written.
 *
 * The boundary. An event before the batch boundary is applied uncounted (`counted` false): it
 * changes its visitor's open session and nothing else. The batch layer counts every session that
 * starts before its cutoff whole, with its events after the cutoff (sql-batch-views.ts), and the
 * serving layer reads speed sums only from the boundary on; so a counted event that continues
 * such a session changes only sums of a minute before the boundary, which nobody reads, and the
 * continuation is never a second visit.
 *
 * Open sessions end (are evicted from memory; what they contributed stays in the sums) in
 * eviction passes, run at checkpoints every {@link EVICTION_PASS_MS} (or at every checkpoint
 * while the byte budget is full), never per event:
 *  - by event time, per site: when the highest event time seen for the session's site in this
 *    partition is more than {@link SESSION_GAP_MS} past the session's end. Only the site's own
 *    events move its clock, so no client's clock decides what another site's visits are;
 *  - by the wall clock: when more than the gap (plus `idleMarginMs`) has passed since the
 *    visitor's last event was applied, for sites that fall silent;
 *  - early, beyond the byte budget: the sessions idle longest (by the wall clock of their last
 *    event) go first, counted in `earlyEvictions`. The consequence is bounded and one-sided: if
 *    that visitor's next event comes within 30 minutes of the session's end, it starts a new
 *    visit — one visit too many (its duration split in two; a bounce more if the new one stays
 *    at one page view), never a visit or page view lost — until the batch layer recomputes the day.
 *  A late event of a session already evicted likewise starts a visit of its own.
 *
 * Late data. As in partition-state.ts, sums are resident (in memory) from `residentFrom` on, the
 * start of the minute `hotWindowMs` before the wall clock, moved at each checkpoint; entries of
 * earlier minutes are written and evicted once idle — except those of minutes in which a
 * session still held starts, which its next event will change. A minute the horizon passes
 * while in memory stays *complete* (every stored non-zero key of it is in memory) until a
 * non-zero entry of it is evicted: a key of it not in memory is zero, and is made in memory (a
 * long visit's new exit page). A change to another earlier minute's key that is not in memory
 * (a late session in an evicted minute, or a long visit after a restart) goes to the
 * partition's late lane: an entry per key holding what to add to the stored row, written as
 * `laneSums` rows, which readers add like another partition's, and merged into the stored rows
 * in the background (`laneKeys`, `mergeLane`). So the sums are never rebuilt from zero over a
 * stored row.
 *
 * Checkpoints. `snapshot` takes what changed (sum rows, as the value of each key now; open
 * sessions changed; sessions closed) and clears the dirty marks; `restoreDirty` puts them back
 * after a failed write; `checkpointed` runs after a durable write. Written with the offsets, the
 * open sessions let a restart (`RestoredSessions`) continue every visit where it was: a SIGKILL
 * neither loses nor doubles one.
 *
 * Memory. The open sessions, which are most of the state, sit in typed-array columns in chunks
 * of {@link SESSION_CHUNK_SLOTS} slots with an open-addressing index (see `OpenSessionTable`):
 * no object, no boxed number and — for the collector's visitor ids, 32 hex digits — no string
 * per visitor: 61 bytes of slot and 4–12 of index (70.4 measured at 10^6 visitors). Page ids are
 * held once each (`PageTable`). The sums cost per key, not per visitor (about 125 bytes each).
 * SESSION_MEMORY_BYTES says how the estimate was calibrated.
 *
 * Pure and synchronous (the clock is injected), so that taking a snapshot for a checkpoint is atomic.
 */
import type { PageView } from '../shared/core/page-view.ts';
import { SESSION_GAP_MS, addToSession, addTotals, sessionTotals, type Session, type SessionTotals } from '../shared/core/sessions.ts';
import { hash64, hash64FromBigInt, hash64ToBigInt, type Hash64 } from '../shared/core/sketches/hash.ts';
import { INTERVAL_MS } from '../shared/core/time-buckets.ts';
import { ByteBudget, EVICTION_PASS_MS, MEMORY_BYTES, residentFromAt } from './state-memory.ts';

/** What the session state reads of a page view. */
export type SessionPageView = Pick<PageView, 'eventId' | 'site' | 'visitorId' | 'pageId' | 'timestamp'>;

/** The three sums of sessions by start minute: per site, per entry page, per exit page. */
export type SessionSumKind = 'total' | 'entry' | 'exit';

/** A session sum row: the value of its key now (this partition's, or its late lane's). */
export interface SessionSumRow extends SessionTotals {
  site: string;
  kind: SessionSumKind;
  /** The entry or exit page; '' for 'total'. */
  pageId: string;
  /** Start of the minute the sessions started in (epoch ms). */
  bucket: number;
}

/** The key of a session sum row. */
export type SessionSumKey = Pick<SessionSumRow, 'site' | 'kind' | 'pageId' | 'bucket'>;

/** A visitor's open session, as written at a checkpoint. */
export interface OpenSessionRow extends Session {
  site: string;
  visitorId: string;
  /** hash64 of the eventId of the visitor's last event applied, as an unsigned decimal (ClickHouse's `murmurHash3_64(eventId)`). */
  lastEventHash?: string;
}

/** A (site, visitor) whose open session was closed (evicted): its stored open session is to be deleted. */
export interface SessionKey {
  site: string;
  visitorId: string;
}

/**
 * `counted`: the event is in the sums; `before_boundary`: applied uncounted (the batch layer's);
 * `duplicate`: the visitor's last event again (same eventId), dropped.
 */
export type SessionApplyOutcome = 'counted' | 'before_boundary' | 'duplicate';

export interface SessionSettings {
  /** Minutes younger than this (by the wall clock) stay in memory (as partition-state's). */
  hotWindowMs: number;
  /** Wall clock. */
  now: () => number;
  /**
   * Added to the gap before a session whose visitor was silent (by the wall clock) is closed,
   * for events on their way. At least 1 s (times of application are held to the second).
   * @default SESSION_IDLE_MARGIN_MS
   */
  idleMarginMs?: number;
}

/** Default `idleMarginMs`: a minute. */
export const SESSION_IDLE_MARGIN_MS = 60_000;

/**
 * Beyond the byte budget, early evictions bring the bytes used this far under the limit (this
 * partition's share of the excess), so that a full budget is not met again at the next event.
 */
export const EARLY_EVICTION_HEADROOM = 0.05;

export interface SessionSnapshot {
  /** This partition's changed sum rows. */
  sums: SessionSumRow[];
  /** The late lane's changed rows (see the module's doc), to be written as the lane's. */
  laneSums: SessionSumRow[];
  /** Open sessions new or changed. */
  openSessions: OpenSessionRow[];
  /** Sessions closed, whose stored open session is to be deleted. */
  closedSessions: SessionKey[];
  /** The entries the sum rows were taken from, to mark dirty again after a failed write. */
  readonly entries: readonly SumEntry[];
}

export interface RestoredSessions {
  /** As partition-state's: minutes from here on are resident. */
  residentFrom: number;
  /**
   * Every stored sum row of this partition of a minute at or after `residentFrom`. Rows of earlier
   * minutes may be given too (the start minutes of the open sessions, say): they are taken as the
   * stored values; without them, changes to those minutes go to the late lane.
   */
  sums: readonly SessionSumRow[];
  /** Every stored open session of this partition. */
  openSessions: readonly OpenSessionRow[];
  /** The late lane's stored rows: taken back into the lane. */
  lane?: readonly SessionSumRow[];
}

/** A read of the stored rows the late lane's entries are to be added into (see `SessionState.laneKeys`). */
export interface SessionLaneRead {
  keys: SessionSumKey[];
  /** The lane entries it covers. */
  readonly ids: readonly string[];
}

const MINUTE_MS = INTERVAL_MS.minute;

/** Open-session slots per chunk (see OpenSessionTable). */
const CHUNK_BITS = 14;
export const SESSION_CHUNK_SLOTS = 1 << CHUNK_BITS;
const CHUNK_MASK = SESSION_CHUNK_SLOTS - 1;
/**
 * Bytes of one open-session slot in a chunk's columns: start and end (float64), the visitor
 * key (4 × int32), site, page views, entry and exit page, the last event's hash (2 × int32),
 * when it was applied (int32), flags (uint8).
 */
export const SESSION_SLOT_BYTES = 8 + 8 + 16 + 4 + 4 + 4 + 4 + 8 + 4 + 1;
/** The open-session index is kept at most this full (linear probing), and grows by doubling. */
const MAX_LOAD = 0.7;
const MIN_INDEX = 64;

/**
 * Estimated V8 sizes of the session state's parts, in bytes (Node 20.20, x64, no pointer
 * compression), accounted in the byte budget as they are allocated and freed.
 *
 * Calibration: the live heap (heapUsed + arrayBuffers after two full GCs, `node --expose-gc`)
 * before and after building 10^5 of a part, the state alone, with events decoded from bytes
 * and dropped (so only what the state keeps stays alive). Open sessions: the slot and index
 * bytes are exact (typed arrays); Maps: V8's OrderedHashMap takes 3 words per entry plus 1 per
 * 2 entries of buckets and doubles when full, so 28–56 bytes an entry: taken as 40. Sums: 10^5
 * visitors on distinct pages (one page sums object, two entries and a page id each) measured
 * 530.7 bytes per visitor against 522.0 estimated; ten visitors per page over ten minutes
 * (twenty entries per page), 298.4 against 291.6; all visitors on one page, 83.6 against 80.6.
 * The whole, by bench/memory-sessions.ts at 10^6 visitors (10 sites × 1,000 pages, 10 minutes):
 * 98.1 bytes per visitor measured, 97.9 estimated (70.4 of them the open sessions' arrays).
 * A sum's duration is taken as boxed (+16) though the benchmark's stay small integers: in V8 one
 * entry whose duration outgrows 2^31 − 1 ms (a busy site's minute) boxes it in every entry.
 */
export const SESSION_MEMORY_BYTES = {
  /** A chunk of open-session slots: its columns (exact) and their ten typed-array objects and buffers. */
  chunk: SESSION_CHUNK_SLOTS * SESSION_SLOT_BYTES + 10 * 200,
  /** A position of the open-session index (an Int32Array: exact). */
  indexPosition: 4,
  /** A visitor id that is not 32 lowercase hex digits: its entry in the table's Map (its string apart). */
  oddId: 40,
  /**
   * A sum entry: the object (10 fields: 24 + 80), its duration boxed once any sum outgrows a small
   * integer (16) and its slot in its list (8).
   */
  sumEntry: 24 + 80 + 16 + 8,
  /** A page's sum lists in a site: the object, its two arrays (headers and backing store headers), its Map entry. */
  pageSums: 32 + 2 * (32 + 16) + 40,
  /** A page id held: its Map entry and its slots in the id and reference-count arrays (the string apart). */
  page: 40 + 8 + 8,
  /** A site: the object, its three Maps and totals list, its Map entry and list slot (the string apart). */
  site: 72 + 3 * 180 + 32 + 40 + 8,
  /** An entry of a site's count of open sessions by start minute. */
  openStart: 40,
  /** An entry of a site's set of complete minutes. */
  completeMinute: 32,
  /** A late-lane entry's slot in the lane's Map, besides the entry and its key (as partition-state's). */
  laneSlot: MEMORY_BYTES.laneSlot,
  string: MEMORY_BYTES.string,
} as const;

const LIVE = 1;
const DIRTY = 2;
/** The visitor id is not 32 lowercase hex digits: the key holds its hash64, the table its string. */
const ODD = 4;

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) HEX_VALUE['0123456789abcdef'.charCodeAt(d)] = d;

/** Reads 32 lowercase hex digits (the collector's visitor ids) into four int32 words; false for any other id. */
function parseHexId(id: string, out: Int32Array): boolean {
  if (id.length !== 32) return false;
  for (let w = 0; w < 4; w++) {
    let v = 0;
    for (let i = 8 * w; i < 8 * w + 8; i++) {
      const c = id.charCodeAt(i);
      const d = c < 128 ? HEX_VALUE[c]! : -1;
      if (d < 0) return false;
      v = (v << 4) | d;
    }
    out[w] = v;
  }
  return true;
}

const hexWord = (w: number): string => (w >>> 0).toString(16).padStart(8, '0');

/** A 32-bit hash of a visitor key (site, four words, and whether they hold an odd id's hash), seeded per table. */
function mixKey(seed: number, site: number, k0: number, k1: number, k2: number, k3: number, odd: boolean): number {
  let h = seed ^ site ^ (odd ? 0x5bd1e995 : 0);
  h = Math.imul(h ^ k0, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ k1, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  h = Math.imul(h ^ k2, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ k3, 0x1b873593);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The columns of SESSION_CHUNK_SLOTS open-session slots. */
class SlotChunk {
  readonly start = new Float64Array(SESSION_CHUNK_SLOTS);
  readonly end = new Float64Array(SESSION_CHUNK_SLOTS);
  /** The visitor id: 32 hex digits as four int32 words, or (ODD) its hash64 in the first two. */
  readonly key = new Int32Array(4 * SESSION_CHUNK_SLOTS);
  /** The site's number (SessionState's site list). */
  readonly site = new Int32Array(SESSION_CHUNK_SLOTS);
  /** Page views; in a free slot, the next free slot (-1: none). */
  readonly pageviews = new Int32Array(SESSION_CHUNK_SLOTS);
  /** Entry and exit pages' numbers (PageTable). */
  readonly entry = new Int32Array(SESSION_CHUNK_SLOTS);
  readonly exit = new Int32Array(SESSION_CHUNK_SLOTS);
  /** hash64 of the last event's eventId (hi, lo). */
  readonly event = new Int32Array(2 * SESSION_CHUNK_SLOTS);
  /** When the last event was applied: wall-clock seconds since the state's epoch. */
  readonly applied = new Int32Array(SESSION_CHUNK_SLOTS);
  readonly flags = new Uint8Array(SESSION_CHUNK_SLOTS);
}

/**
 * The open sessions: slots in typed-array chunks (a slot number is chunk × SESSION_CHUNK_SLOTS +
 * position), found by (site, visitor) through an open-addressing index (linear probing,
 * deletion by backward shift) of slot + 1 per position. Free slots are linked through their
 * page-view column; `compact` moves live slots down so that emptied chunks can be dropped.
 * Bytes are reported to `account` as they are allocated and freed.
 */
class OpenSessionTable {
  private readonly chunks: SlotChunk[] = [];
  private index = new Int32Array(MIN_INDEX);
  /** Slots below it have been handed out (free ones among them are linked from `freeHead`). */
  top = 0;
  private freeHead = -1;
  /** Sessions held. */
  live = 0;
  /** Slots changed since the last snapshot (they may repeat, or be clean or free by now: skipped). */
  dirty: number[] = [];
  /** Ids of visitors that are not 32 lowercase hex digits, by slot. */
  private readonly oddIds = new Map<number, string>();
  /** The key of the last `find`. */
  private readonly key = new Int32Array(4);
  private odd = false;
  private readonly hash: Hash64 = { hi: 0, lo: 0 };

  constructor(
    private readonly seed: number,
    private readonly account: (bytes: number) => void,
  ) {
    account(this.index.byteLength);
  }

  private chunk(slot: number): SlotChunk {
    return this.chunks[slot >>> CHUNK_BITS]!;
  }

  private encode(visitorId: string): void {
    const k = this.key;
    this.odd = !parseHexId(visitorId, k);
    if (!this.odd) return;
    hash64(visitorId, this.hash);
    k[0] = this.hash.hi | 0;
    k[1] = this.hash.lo | 0;
    k[2] = 0;
    k[3] = 0;
  }

  private homeOfKey(site: number): number {
    const k = this.key;
    return mixKey(this.seed, site, k[0]!, k[1]!, k[2]!, k[3]!, this.odd);
  }

  private homeOfSlot(slot: number): number {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    const j = 4 * i;
    const k = c.key;
    return mixKey(this.seed, c.site[i]!, k[j]!, k[j + 1]!, k[j + 2]!, k[j + 3]!, (c.flags[i]! & ODD) !== 0);
  }

  /** The slot of (site, visitor), or -1. */
  find(site: number, visitorId: string): number {
    this.encode(visitorId);
    const index = this.index;
    const mask = index.length - 1;
    const k = this.key;
    for (let pos = this.homeOfKey(site) & mask; ; pos = (pos + 1) & mask) {
      const e = index[pos]!;
      if (e === 0) return -1;
      const slot = e - 1;
      const c = this.chunk(slot);
      const i = slot & CHUNK_MASK;
      const j = 4 * i;
      if (
        c.site[i] === site &&
        c.key[j] === k[0] &&
        c.key[j + 1] === k[1] &&
        c.key[j + 2] === k[2] &&
        c.key[j + 3] === k[3] &&
        ((c.flags[i]! & ODD) !== 0) === this.odd &&
        (!this.odd || this.oddIds.get(slot) === visitorId)
      ) {
        return slot;
      }
    }
  }

  /** A new slot for (site, visitor), which `find` has just failed to find. Its session is to be written. */
  insert(site: number, visitorId: string): number {
    const slot = this.allocate();
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    c.site[i] = site;
    c.key.set(this.key, 4 * i);
    c.flags[i] = LIVE | (this.odd ? ODD : 0);
    if (this.odd) {
      this.oddIds.set(slot, visitorId);
      this.account(SESSION_MEMORY_BYTES.oddId + SESSION_MEMORY_BYTES.string(visitorId));
    }
    this.live += 1;
    if (this.live > this.index.length * MAX_LOAD) this.rehash(this.index.length * 2);
    else this.place(slot);
    return slot;
  }

  private allocate(): number {
    if (this.freeHead >= 0) {
      const slot = this.freeHead;
      this.freeHead = this.chunk(slot).pageviews[slot & CHUNK_MASK]!;
      return slot;
    }
    if (this.top === this.chunks.length * SESSION_CHUNK_SLOTS) {
      this.chunks.push(new SlotChunk());
      this.account(SESSION_MEMORY_BYTES.chunk);
    }
    return this.top++;
  }

  /** Puts a live slot in the index, at the first free position from its home. */
  private place(slot: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let pos = this.homeOfSlot(slot) & mask;
    while (index[pos] !== 0) pos = (pos + 1) & mask;
    index[pos] = slot + 1;
  }

  /** The index position of a live slot. */
  private positionOf(slot: number): number {
    const index = this.index;
    const mask = index.length - 1;
    let pos = this.homeOfSlot(slot) & mask;
    while (index[pos] !== slot + 1) pos = (pos + 1) & mask;
    return pos;
  }

  /** Empties an index position, shifting back the entries of its probe run that may move (no tombstones). */
  private unplace(hole: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let i = hole;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const e = index[j]!;
      if (e === 0) break;
      const home = this.homeOfSlot(e - 1) & mask;
      // The entry at j stays when its home lies cyclically in (i, j]; otherwise it fills the hole.
      if (i < j ? home > i && home <= j : home > i || home <= j) continue;
      index[i] = e;
      i = j;
    }
    index[i] = 0;
  }

  private rehash(size: number): void {
    this.account(4 * (size - this.index.length));
    this.index = new Int32Array(size);
    for (let slot = 0; slot < this.top; slot++) if (this.isLive(slot)) this.place(slot);
  }

  /** Frees a live slot. */
  remove(slot: number): void {
    this.unplace(this.positionOf(slot));
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    if ((c.flags[i]! & ODD) !== 0) {
      this.account(-(SESSION_MEMORY_BYTES.oddId + SESSION_MEMORY_BYTES.string(this.oddIds.get(slot)!)));
      this.oddIds.delete(slot);
    }
    c.flags[i] = 0;
    c.pageviews[i] = this.freeHead;
    this.freeHead = slot;
    this.live -= 1;
  }

  get chunkCount(): number {
    return this.chunks.length;
  }

  /**
   * Moves live slots from the chunks beyond those needed (plus one spare unless `tight`) into
   * free slots below, and drops those chunks; shrinks the index when it is under a quarter of
   * its maximum load.
   */
  compact(tight: boolean): void {
    const keep = Math.ceil(this.live / SESSION_CHUNK_SLOTS) + (tight ? 0 : 1);
    if (this.chunks.length > keep) {
      const limit = keep * SESSION_CHUNK_SLOTS;
      let to = 0;
      for (let slot = limit; slot < this.top; slot++) {
        if (!this.isLive(slot)) continue;
        while (this.isLive(to)) to++;
        this.move(slot, to);
      }
      this.account(-(this.chunks.length - keep) * SESSION_MEMORY_BYTES.chunk);
      this.chunks.length = keep;
      this.top = Math.min(this.top, limit);
      this.freeHead = -1;
      for (let slot = this.top - 1; slot >= 0; slot--) {
        if (this.isLive(slot)) continue;
        this.chunk(slot).pageviews[slot & CHUNK_MASK] = this.freeHead;
        this.freeHead = slot;
      }
    }
    if (this.index.length > MIN_INDEX && this.live < (this.index.length * MAX_LOAD) / 4) {
      let size = MIN_INDEX;
      while (this.live > (size * MAX_LOAD) / 2) size *= 2;
      this.rehash(size);
    }
  }

  /** Moves a live slot to a free one (`to`), index, odd id and dirty mark included. */
  private move(from: number, to: number): void {
    const pos = this.positionOf(from);
    const a = this.chunk(from);
    const i = from & CHUNK_MASK;
    const b = this.chunk(to);
    const j = to & CHUNK_MASK;
    b.start[j] = a.start[i]!;
    b.end[j] = a.end[i]!;
    b.key.set(a.key.subarray(4 * i, 4 * i + 4), 4 * j);
    b.site[j] = a.site[i]!;
    b.pageviews[j] = a.pageviews[i]!;
    b.entry[j] = a.entry[i]!;
    b.exit[j] = a.exit[i]!;
    b.event[2 * j] = a.event[2 * i]!;
    b.event[2 * j + 1] = a.event[2 * i + 1]!;
    b.applied[j] = a.applied[i]!;
    const flags = a.flags[i]!;
    b.flags[j] = flags;
    a.flags[i] = 0;
    this.index[pos] = to + 1;
    if ((flags & ODD) !== 0) {
      this.oddIds.set(to, this.oddIds.get(from)!);
      this.oddIds.delete(from);
    }
    if ((flags & DIRTY) !== 0) this.dirty.push(to);
  }

  isLive(slot: number): boolean {
    return (this.chunk(slot).flags[slot & CHUNK_MASK]! & LIVE) !== 0;
  }

  /** The session held in a slot, its pages named from `pages`. */
  read(slot: number, pages: PageTable): Session {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    return { start: c.start[i]!, end: c.end[i]!, pageviews: c.pageviews[i]!, entryPage: pages.id(c.entry[i]!), exitPage: pages.id(c.exit[i]!) };
  }

  write(slot: number, start: number, end: number, pageviews: number, entry: number, exit: number): void {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    c.start[i] = start;
    c.end[i] = end;
    c.pageviews[i] = pageviews;
    c.entry[i] = entry;
    c.exit[i] = exit;
  }

  /** Records the last event applied to a slot (its eventId's hash) and when (`applied`, see SlotChunk). */
  setLastEvent(slot: number, hi: number, lo: number, applied: number): void {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    c.event[2 * i] = hi | 0;
    c.event[2 * i + 1] = lo | 0;
    c.applied[i] = applied;
  }

  isLastEvent(slot: number, hi: number, lo: number): boolean {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    return c.event[2 * i] === (hi | 0) && c.event[2 * i + 1] === (lo | 0);
  }

  /** The last event's hash as an unsigned decimal. */
  lastEventHash(slot: number): string {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    return hash64ToBigInt({ hi: c.event[2 * i]!, lo: c.event[2 * i + 1]! }).toString();
  }

  markDirty(slot: number): void {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    const flags = c.flags[i]!;
    if ((flags & DIRTY) !== 0) return;
    c.flags[i] = flags | DIRTY;
    this.dirty.push(slot);
  }

  /** The live slots marked dirty, each once, their marks cleared. */
  takeDirty(): number[] {
    const out: number[] = [];
    for (const slot of this.dirty) {
      const c = this.chunk(slot);
      const i = slot & CHUNK_MASK;
      const flags = c.flags[i]!;
      if ((flags & (LIVE | DIRTY)) !== (LIVE | DIRTY)) continue;
      c.flags[i] = flags & ~DIRTY;
      out.push(slot);
    }
    this.dirty = [];
    return out;
  }

  site(slot: number): number {
    return this.chunk(slot).site[slot & CHUNK_MASK]!;
  }
  start(slot: number): number {
    return this.chunk(slot).start[slot & CHUNK_MASK]!;
  }
  end(slot: number): number {
    return this.chunk(slot).end[slot & CHUNK_MASK]!;
  }
  pageviews(slot: number): number {
    return this.chunk(slot).pageviews[slot & CHUNK_MASK]!;
  }
  entry(slot: number): number {
    return this.chunk(slot).entry[slot & CHUNK_MASK]!;
  }
  exit(slot: number): number {
    return this.chunk(slot).exit[slot & CHUNK_MASK]!;
  }
  applied(slot: number): number {
    return this.chunk(slot).applied[slot & CHUNK_MASK]!;
  }

  visitorId(slot: number): string {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    if ((c.flags[i]! & ODD) !== 0) return this.oddIds.get(slot)!;
    const k = c.key;
    const j = 4 * i;
    return hexWord(k[j]!) + hexWord(k[j + 1]!) + hexWord(k[j + 2]!) + hexWord(k[j + 3]!);
  }

  /** Copies a slot's key into `to` (a list of closed keys). */
  copyKey(slot: number, site: string, to: ClosedKeys): void {
    const c = this.chunk(slot);
    const i = slot & CHUNK_MASK;
    const j = 4 * i;
    const odd = (c.flags[i]! & ODD) !== 0;
    to.add(site, c.key[j]!, c.key[j + 1]!, c.key[j + 2]!, c.key[j + 3]!, odd ? this.oddIds.get(slot)! : null);
  }
}

/**
 * Keys of sessions closed since the last snapshot, as four words each (the visitor id's string
 * made only when the snapshot is taken): a mass eviction (a silent site) makes no string per visitor.
 */
class ClosedKeys {
  private sites: string[] = [];
  private words = new Int32Array(256);
  private oddIds = new Map<number, string>();

  get length(): number {
    return this.sites.length;
  }

  /** A closed key: its visitor id's four words, or (an id that is not 32 hex digits) the id. */
  add(site: string, k0: number, k1: number, k2: number, k3: number, oddId: string | null): void {
    const n = this.sites.length;
    if (4 * n + 4 > this.words.length) {
      const words = new Int32Array(2 * this.words.length);
      words.set(this.words);
      this.words = words;
    }
    this.sites.push(site);
    const w = this.words;
    w[4 * n] = k0;
    w[4 * n + 1] = k1;
    w[4 * n + 2] = k2;
    w[4 * n + 3] = k3;
    if (oddId !== null) this.oddIds.set(n, oddId);
  }

  addId(site: string, visitorId: string): void {
    this.add(site, 0, 0, 0, 0, visitorId);
  }

  /** The keys, as strings; the list is emptied. */
  take(): SessionKey[] {
    const w = this.words;
    const out = this.sites.map((site, n): SessionKey => ({
      site,
      visitorId: this.oddIds.get(n) ?? hexWord(w[4 * n]!) + hexWord(w[4 * n + 1]!) + hexWord(w[4 * n + 2]!) + hexWord(w[4 * n + 3]!),
    }));
    this.sites = [];
    this.oddIds = new Map();
    if (this.words.length > 256) this.words = new Int32Array(256);
    return out;
  }
}

/** Page ids held by open sessions (entry and exit) and by the sites' page sums, each once, with a count of holders. */
class PageTable {
  private readonly numbers = new Map<string, number>();
  private readonly ids: string[] = [];
  private readonly holders: number[] = [];
  private readonly free: number[] = [];

  constructor(private readonly account: (bytes: number) => void) {}

  /** A page's number, or -1 if it is not held. */
  lookup(pageId: string): number {
    return this.numbers.get(pageId) ?? -1;
  }

  id(page: number): string {
    return this.ids[page]!;
  }

  /** The page's number, with one holder more (held from now on if it was not). */
  hold(pageId: string): number {
    let page = this.numbers.get(pageId);
    if (page === undefined) {
      page = this.free.pop() ?? this.ids.length;
      this.ids[page] = pageId;
      this.holders[page] = 0;
      this.numbers.set(pageId, page);
      this.account(SESSION_MEMORY_BYTES.page + SESSION_MEMORY_BYTES.string(pageId));
    }
    this.holders[page]! += 1;
    return page;
  }

  /** One holder less; the page is let go with the last. */
  release(page: number): void {
    const holders = this.holders[page]! - 1;
    this.holders[page] = holders;
    if (holders > 0) return;
    const pageId = this.ids[page]!;
    this.numbers.delete(pageId);
    this.ids[page] = '';
    this.free.push(page);
    this.account(-(SESSION_MEMORY_BYTES.page + SESSION_MEMORY_BYTES.string(pageId)));
  }
}

/** Sums of the sessions of a (site, kind, page) that started in a minute (a number: epoch ms / 60,000). */
class SumEntry implements SessionTotals {
  dirty = false;
  /** Updated since the last eviction pass. */
  touched = true;
  visits = 0;
  bounces = 0;
  durationMs = 0;
  pageviews = 0;
  constructor(
    readonly site: string,
    readonly kind: SessionSumKind,
    readonly pageId: string,
    readonly minute: number,
  ) {}
}

/** A late-lane entry: what to add to a stored row that is not in memory (see the module's doc). */
class LaneSum extends SumEntry {
  /** Added into the partition's row: written once more, as zeros, then dropped. */
  merged = false;
}

const isZero = (t: SessionTotals): boolean => t.visits === 0 && t.bounces === 0 && t.durationMs === 0 && t.pageviews === 0;

/** A page's sums in a site, by minute: as entry page and as exit page (exact-size arrays, as partition-state's). */
class PageSums {
  entries: SumEntry[] = [];
  exits: SumEntry[] = [];
}

class SiteSessions {
  /** Highest event time applied for the site: its clock for closing sessions. */
  maxEventTime = Number.NEGATIVE_INFINITY;
  /** Open sessions held. */
  visitors = 0;
  readonly totals: SumEntry[] = [];
  /** By page number (PageTable). */
  readonly pages = new Map<number, PageSums>();
  /** Open sessions held by the minute of their start: those minutes' sums stay in memory. */
  readonly openStarts = new Map<number, number>();
  /**
   * Minutes before `residentFrom` of which every stored non-zero sum is in memory (they were
   * resident, and nothing non-zero of theirs was evicted since): a key of theirs not in memory
   * is zero, and is created in memory rather than in the late lane.
   */
  readonly complete = new Set<number>();
  constructor(
    readonly id: string,
    /** Its number in SessionState's site list (the open sessions' `site` column). */
    readonly index: number,
  ) {}
}

/** The entry of a minute in a list of resident sums, searched from the newest. */
function find(list: readonly SumEntry[], minute: number): SumEntry | undefined {
  for (let i = list.length - 1; i >= 0; i--) {
    const entry = list[i]!;
    if (entry.minute === minute) return entry;
  }
  return undefined;
}

/**
 * `list` with `entry` added, as a new array of exactly that length. Not `[...list, entry]`: V8
 * gives a spread of two or more elements a backing store of 17 slots or more (measured: 201
 * bytes for two elements, 297 for ten; `new Array(n)` filled in place, 48 + 8n).
 */
function append<T>(list: readonly T[], entry: T): T[] {
  const out = new Array<T>(list.length + 1);
  for (let i = 0; i < list.length; i++) out[i] = list[i]!;
  out[list.length] = entry;
  return out;
}

/** Removes the entries `drop` selects, in place; returns how many. */
function removeWhere<T>(list: T[], drop: (entry: T) => boolean): number {
  let kept = 0;
  for (const entry of list) if (!drop(entry)) list[kept++] = entry;
  const removed = list.length - kept;
  list.length = kept;
  return removed;
}

/** A late-lane entry's key. */
function laneId(kind: SessionSumKind, site: string, pageId: string, minute: number): string {
  return `${kind}\u0001${site}\u0001${pageId}\u0001${minute}`;
}

function laneBytes(id: string): number {
  return SESSION_MEMORY_BYTES.sumEntry + SESSION_MEMORY_BYTES.string(id) + SESSION_MEMORY_BYTES.laneSlot;
}

function sumRow(e: SumEntry): SessionSumRow {
  return { site: e.site, kind: e.kind, pageId: e.pageId, bucket: e.minute * MINUTE_MS, visits: e.visits, bounces: e.bounces, durationMs: e.durationMs, pageviews: e.pageviews };
}

/** Histogram bins used to find the sessions idle longest. */
const IDLE_BINS = 4096;

export class SessionState {
  private readonly sites = new Map<string, SiteSessions>();
  /** Sites by number; freed numbers are taken again. */
  private readonly siteList: (SiteSessions | undefined)[] = [];
  private readonly freeSites: number[] = [];
  private readonly table: OpenSessionTable;
  private readonly pages: PageTable;
  private dirtySums: SumEntry[] = [];
  private readonly closed = new ClosedKeys();
  /** The late lane, by `laneId`. */
  private readonly lane = new Map<string, LaneSum>();
  private laneUnmerged = 0;
  private readonly eventHash: Hash64 = { hi: 0, lo: 0 };
  private readonly restoredHash: Hash64 = { hi: 0, lo: 0 };
  private bytes = 0;
  /** Wall clock (whole seconds, ms) that times of application count from. */
  private readonly epoch: number;
  private readonly idleMarginMs: number;
  private lastEvictionPass = Number.NEGATIVE_INFINITY;
  private early = 0;
  private closedCount = 0;
  /** Minutes from here on are resident: a stored sum row of such a minute is in memory. */
  residentFrom: number;

  constructor(
    private readonly settings: SessionSettings,
    private readonly budget: ByteBudget = new ByteBudget(Number.POSITIVE_INFINITY),
    restored?: RestoredSessions,
  ) {
    const now = settings.now();
    this.epoch = Math.floor(now / 1000) * 1000;
    this.idleMarginMs = Math.max(1000, settings.idleMarginMs ?? SESSION_IDLE_MARGIN_MS);
    const account = (bytes: number): void => this.account(bytes);
    this.table = new OpenSessionTable((Math.random() * 0x100000000) | 0, account);
    this.pages = new PageTable(account);
    this.residentFrom = restored?.residentFrom ?? residentFromAt(now, settings.hotWindowMs);
    if (restored === undefined) return;
    this.load(restored.sums);
    for (const r of restored.lane ?? []) {
      if (isZero(r)) continue;
      addTotals(this.laneSum(r.site, r.kind, r.pageId, r.bucket / MINUTE_MS), r);
    }
    const applied = this.appliedNow();
    for (const r of restored.openSessions) {
      const site = this.site(r.site);
      if (this.table.find(site.index, r.visitorId) >= 0) continue;
      const slot = this.table.insert(site.index, r.visitorId);
      site.visitors += 1;
      this.hold(site, slot, r, null);
      if (r.end > site.maxEventTime) site.maxEventTime = r.end;
      const h = r.lastEventHash === undefined ? { hi: 0, lo: 0 } : hash64FromBigInt(BigInt(r.lastEventHash), this.restoredHash);
      this.table.setLastEvent(slot, h.hi, h.lo, applied);
    }
  }

  private account(bytes: number): void {
    this.bytes += bytes;
    this.budget.used += bytes;
  }

  /** Wall-clock seconds since `epoch`, rounded down. */
  private appliedNow(): number {
    return Math.floor((this.settings.now() - this.epoch) / 1000);
  }

  private site(id: string): SiteSessions {
    let site = this.sites.get(id);
    if (site === undefined) {
      site = new SiteSessions(id, this.freeSites.pop() ?? this.siteList.length);
      this.sites.set(id, site);
      this.siteList[site.index] = site;
      this.account(SESSION_MEMORY_BYTES.site + SESSION_MEMORY_BYTES.string(id));
    }
    return site;
  }

  /**
   * Applies a page view to its visitor's session. Counted (`counted`: its minute is at or after the
   * batch boundary), what the session contributed is retracted from the sums and what it
   * contributes now is added; uncounted, only the open session changes. The visitor's last event
   * again (same eventId) is dropped.
   */
  apply(event: SessionPageView, counted: boolean): SessionApplyOutcome {
    const site = this.site(event.site);
    const table = this.table;
    hash64(event.eventId, this.eventHash);
    const { hi, lo } = this.eventHash;
    let slot = table.find(site.index, event.visitorId);
    let open: Session | null = null;
    if (slot >= 0) {
      if (table.isLastEvent(slot, hi, lo)) return 'duplicate';
      open = table.read(slot, this.pages);
    }
    if (event.timestamp > site.maxEventTime) site.maxEventTime = event.timestamp;
    const step = addToSession(open, event);
    if (counted) {
      if (step.retract !== null) this.addSums(site, step.retract, -1);
      this.addSums(site, step.add, 1);
    }
    if (slot < 0) {
      slot = table.insert(site.index, event.visitorId);
      site.visitors += 1;
      this.hold(site, slot, step.open, null);
    } else if (step.open !== open) {
      this.hold(site, slot, step.open, open);
    }
    table.setLastEvent(slot, hi, lo, this.appliedNow());
    table.markDirty(slot);
    return counted ? 'counted' : 'before_boundary';
  }

  /** Writes `session` into a slot that held `previous` (null: a new slot), moving page holds and start counts. */
  private hold(site: SiteSessions, slot: number, session: Session, previous: Session | null): void {
    const table = this.table;
    const entry = this.pages.hold(session.entryPage);
    const exit = this.pages.hold(session.exitPage);
    if (previous !== null) {
      this.pages.release(table.entry(slot));
      this.pages.release(table.exit(slot));
    }
    table.write(slot, session.start, session.end, session.pageviews, entry, exit);
    const minute = Math.floor(session.start / MINUTE_MS);
    const before = previous === null ? null : Math.floor(previous.start / MINUTE_MS);
    if (before === minute) return;
    if (before !== null) this.countStart(site, before, -1);
    this.countStart(site, minute, 1);
  }

  private countStart(site: SiteSessions, minute: number, n: 1 | -1): void {
    const count = (site.openStarts.get(minute) ?? 0) + n;
    if (count === 0) {
      site.openStarts.delete(minute);
      this.account(-SESSION_MEMORY_BYTES.openStart);
    } else {
      if (count === 1 && n === 1) this.account(SESSION_MEMORY_BYTES.openStart);
      site.openStarts.set(minute, count);
    }
  }

  /** Adds (`sign` 1) or retracts (−1) what a session contributes, in the minute of its start. */
  private addSums(site: SiteSessions, session: Session, sign: 1 | -1): void {
    const minute = Math.floor(session.start / MINUTE_MS);
    const totals = sessionTotals(session);
    this.bump(this.sum(site, 'total', '', minute), totals, sign);
    this.bump(this.sum(site, 'entry', session.entryPage, minute), totals, sign);
    this.bump(this.sum(site, 'exit', session.exitPage, minute), totals, sign);
  }

  private bump(entry: SumEntry, totals: SessionTotals, sign: 1 | -1): void {
    addTotals(entry, totals, sign);
    entry.touched = true;
    if (!entry.dirty) {
      entry.dirty = true;
      this.dirtySums.push(entry);
    }
  }

  /** The list that holds a key's entries, or undefined when the site holds no sums of the page. */
  private list(site: SiteSessions, kind: SessionSumKind, pageId: string): SumEntry[] | undefined {
    if (kind === 'total') return site.totals;
    const page = this.pages.lookup(pageId);
    const sums = page < 0 ? undefined : site.pages.get(page);
    return sums === undefined ? undefined : kind === 'entry' ? sums.entries : sums.exits;
  }

  /**
   * The entry of a key: in memory, or created (at zero) for a resident or complete minute; for
   * an earlier minute, the late lane's (the stored row is not known here).
   */
  private sum(site: SiteSessions, kind: SessionSumKind, pageId: string, minute: number): SumEntry {
    const list = this.list(site, kind, pageId);
    const found = list === undefined ? undefined : find(list, minute);
    if (found !== undefined) return found;
    if (minute * MINUTE_MS < this.residentFrom && !site.complete.has(minute)) return this.laneSum(site.id, kind, pageId, minute);
    return this.newSum(site, kind, pageId, minute);
  }

  /** A new entry at zero in memory (the caller checked there is none). */
  private newSum(site: SiteSessions, kind: SessionSumKind, pageId: string, minute: number): SumEntry {
    let entry: SumEntry;
    if (kind === 'total') {
      entry = new SumEntry(site.id, kind, '', minute);
      site.totals.push(entry);
    } else {
      let page = this.pages.lookup(pageId);
      let sums = page < 0 ? undefined : site.pages.get(page);
      if (sums === undefined) {
        page = this.pages.hold(pageId);
        sums = new PageSums();
        site.pages.set(page, sums);
        this.account(SESSION_MEMORY_BYTES.pageSums);
      }
      entry = new SumEntry(site.id, kind, this.pages.id(page), minute);
      if (kind === 'entry') sums.entries = append(sums.entries, entry);
      else sums.exits = append(sums.exits, entry);
    }
    this.account(SESSION_MEMORY_BYTES.sumEntry);
    return entry;
  }

  /** The late lane's entry of a key (created at zero, or taken up again after a merge). */
  private laneSum(site: string, kind: SessionSumKind, pageId: string, minute: number): LaneSum {
    const id = laneId(kind, site, pageId, minute);
    let entry = this.lane.get(id);
    if (entry === undefined) {
      entry = new LaneSum(site, kind, pageId, minute);
      this.lane.set(id, entry);
      this.account(laneBytes(id));
      this.laneUnmerged += 1;
    } else if (entry.merged) {
      entry.merged = false;
      this.laneUnmerged += 1;
    }
    return entry;
  }

  /** Takes stored sum rows into memory where no entry holds their key yet (they are clean). */
  private load(rows: readonly SessionSumRow[]): void {
    for (const r of rows) {
      if (isZero(r)) continue;
      const site = this.site(r.site);
      const minute = r.bucket / MINUTE_MS;
      const list = this.list(site, r.kind, r.pageId);
      if (list !== undefined && find(list, minute) !== undefined) continue;
      addTotals(this.newSum(site, r.kind, r.pageId, minute), r);
    }
  }

  /** Late-lane entries not yet added into their stored rows (see `laneKeys`). */
  get laneEntries(): number {
    return this.laneUnmerged;
  }

  /**
   * The stored rows (this partition's own) that the late lane's entries are to be added into,
   * or null when the lane has nothing to merge. Events may be applied while they are read: a
   * key's row is not in memory, so its changes go to its lane entry, which `mergeLane` adds whole.
   */
  laneKeys(): SessionLaneRead | null {
    const keys: SessionSumKey[] = [];
    const ids: string[] = [];
    for (const [id, e] of this.lane) {
      if (e.merged) continue;
      ids.push(id);
      keys.push({ site: e.site, kind: e.kind, pageId: e.pageId, bucket: e.minute * MINUTE_MS });
    }
    return ids.length === 0 ? null : { keys, ids };
  }

  /**
   * Takes the stored rows of a `laneKeys()` read (as of the checkpoint it was made at) into
   * memory and adds each lane entry it covers into its row there (created if none was stored);
   * the lane entry becomes zero. Both are written by the next snapshot, so readers, who add the
   * lane, count every session once before and after. Returns the lane entries merged.
   */
  mergeLane(stored: readonly SessionSumRow[], read: SessionLaneRead): number {
    this.load(stored);
    let merged = 0;
    for (const id of read.ids) {
      const entry = this.lane.get(id);
      if (entry === undefined || entry.merged) continue;
      const site = this.site(entry.site);
      const list = this.list(site, entry.kind, entry.pageId);
      const own = (list === undefined ? undefined : find(list, entry.minute)) ?? this.newSum(site, entry.kind, entry.pageId, entry.minute);
      this.bump(own, entry, 1);
      this.bump(entry, sumRow(entry), -1);
      entry.merged = true;
      this.laneUnmerged -= 1;
      merged += 1;
    }
    return merged;
  }

  /** True when there is something a checkpoint would record, or an eviction pass (run by `checkpointed`) is due. */
  hasChanges(): boolean {
    return (
      this.dirtySums.length > 0 ||
      this.table.dirty.length > 0 ||
      this.closed.length > 0 ||
      ((this.table.live > 0 || this.sites.size > 0 || this.lane.size > 0) && this.settings.now() - this.lastEvictionPass >= EVICTION_PASS_MS)
    );
  }

  /**
   * Takes what changed since the last snapshot — sum rows (the value of each key now), open
   * sessions new or changed, sessions closed — and clears the dirty marks.
   */
  snapshot(): SessionSnapshot {
    const entries: SumEntry[] = [];
    const sums: SessionSumRow[] = [];
    const laneSums: SessionSumRow[] = [];
    for (const e of this.dirtySums) {
      if (!e.dirty) continue;
      e.dirty = false;
      entries.push(e);
      (e instanceof LaneSum ? laneSums : sums).push(sumRow(e));
    }
    this.dirtySums = [];
    const openSessions = this.table.takeDirty().map((slot) => this.openRow(slot));
    // A visitor closed and then back: the row of its session now stands for the key.
    const closedSessions = this.closed.take().filter((k) => this.slotOf(k.site, k.visitorId) < 0);
    return { sums, laneSums, openSessions, closedSessions, entries };
  }

  private openRow(slot: number): OpenSessionRow {
    const t = this.table;
    return {
      site: this.siteList[t.site(slot)]!.id,
      visitorId: t.visitorId(slot),
      start: t.start(slot),
      end: t.end(slot),
      pageviews: t.pageviews(slot),
      entryPage: this.pages.id(t.entry(slot)),
      exitPage: this.pages.id(t.exit(slot)),
      lastEventHash: t.lastEventHash(slot),
    };
  }

  private slotOf(siteId: string, visitorId: string): number {
    const site = this.sites.get(siteId);
    return site === undefined ? -1 : this.table.find(site.index, visitorId);
  }

  /** After a failed write: the snapshot's rows must be written again (open sessions as they are now). */
  restoreDirty(snapshot: SessionSnapshot): void {
    for (const e of snapshot.entries) {
      if (e.dirty) continue;
      e.dirty = true;
      this.dirtySums.push(e);
    }
    for (const r of snapshot.openSessions) {
      const slot = this.slotOf(r.site, r.visitorId);
      // Closed since: its key is in `closed` already.
      if (slot >= 0) this.table.markDirty(slot);
    }
    for (const k of snapshot.closedSessions) this.closed.addId(k.site, k.visitorId);
  }

  /**
   * After a durable checkpoint (dirty marks were cleared by `snapshot`): moves the resident
   * horizon with the wall clock and runs an eviction pass every EVICTION_PASS_MS, or at every
   * checkpoint while the byte budget is full. What it closes is written by the next snapshot.
   */
  checkpointed(_snapshot: SessionSnapshot): void {
    const now = this.settings.now();
    this.advanceResidentFrom(residentFromAt(now, this.settings.hotWindowMs));
    if (!this.budget.full && now - this.lastEvictionPass < EVICTION_PASS_MS) return;
    this.lastEvictionPass = now;
    this.closeSessions(now);
    const pressed = this.budget.full;
    if (pressed) this.closeEarly();
    this.table.compact(pressed);
    this.evictSums(this.budget.full);
    this.dropSites();
  }

  /**
   * Moves the resident horizon: the minutes it passes that hold sums or start open sessions are
   * complete (all their keys are in memory), until something non-zero of theirs is evicted.
   */
  private advanceResidentFrom(to: number): void {
    const from = this.residentFrom / MINUTE_MS;
    if (to <= this.residentFrom) return;
    this.residentFrom = to;
    const until = to / MINUTE_MS;
    const passed = (minute: number): boolean => minute >= from && minute < until;
    for (const site of this.sites.values()) {
      for (const e of site.totals) if (passed(e.minute)) this.markComplete(site, e.minute);
      for (const minute of site.openStarts.keys()) if (passed(minute)) this.markComplete(site, minute);
    }
  }

  private markComplete(site: SiteSessions, minute: number): void {
    if (site.complete.has(minute)) return;
    site.complete.add(minute);
    this.account(SESSION_MEMORY_BYTES.completeMinute);
  }

  /** Closes the sessions over by their site's event time or by the wall clock. */
  private closeSessions(now: number): void {
    const table = this.table;
    const cut = new Float64Array(this.siteList.length);
    for (const site of this.siteList) if (site !== undefined) cut[site.index] = site.maxEventTime - SESSION_GAP_MS;
    const idleBefore = (now - SESSION_GAP_MS - this.idleMarginMs - this.epoch) / 1000;
    for (let slot = 0; slot < table.top; slot++) {
      if (table.isLive(slot) && (table.end(slot) < cut[table.site(slot)]! || table.applied(slot) < idleBefore)) this.close(slot);
    }
  }

  /**
   * Beyond the byte budget: closes the sessions idle longest (by the wall clock of their last
   * event), enough to free this partition's share of the excess over the limit less
   * EARLY_EVICTION_HEADROOM. Memory comes back by whole chunks of slots (`compact`), so as many
   * sessions are closed as empty the chunks that share takes. Found by a histogram of their
   * times, not a sort.
   */
  private closeEarly(): void {
    const table = this.table;
    const budget = this.budget;
    const excess = budget.used - budget.limit * (1 - EARLY_EVICTION_HEADROOM);
    if (table.live === 0 || excess <= 0) return;
    const chunks = Math.ceil((excess * Math.min(1, this.bytes / budget.used)) / SESSION_MEMORY_BYTES.chunk);
    const n = Math.min(table.live, table.live - (table.chunkCount - chunks) * SESSION_CHUNK_SLOTS);
    if (n <= 0) return;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let slot = 0; slot < table.top; slot++) {
      if (!table.isLive(slot)) continue;
      const t = table.applied(slot);
      if (t < min) min = t;
      if (t > max) max = t;
    }
    const width = Math.max(1, Math.ceil((max - min + 1) / IDLE_BINS));
    const counts = new Int32Array(IDLE_BINS);
    for (let slot = 0; slot < table.top; slot++) if (table.isLive(slot)) counts[Math.floor((table.applied(slot) - min) / width)]! += 1;
    // Every session of the bins before `cutBin` goes, and the first `rest` of `cutBin`.
    let cutBin = 0;
    let rest = n;
    while (rest > counts[cutBin]!) rest -= counts[cutBin++]!;
    for (let slot = 0; slot < table.top; slot++) {
      if (!table.isLive(slot)) continue;
      const bin = Math.floor((table.applied(slot) - min) / width);
      if (bin < cutBin || (bin === cutBin && rest-- > 0)) this.close(slot);
    }
    this.early += n;
  }

  /** Evicts an open session: its contribution stays in the sums; its stored row is deleted by the next snapshot. */
  private close(slot: number): void {
    const table = this.table;
    const site = this.siteList[table.site(slot)]!;
    table.copyKey(slot, site.id, this.closed);
    this.countStart(site, Math.floor(table.start(slot) / MINUTE_MS), -1);
    this.pages.release(table.entry(slot));
    this.pages.release(table.exit(slot));
    site.visitors -= 1;
    table.remove(slot);
    this.closedCount += 1;
  }

  /**
   * Drops written (clean) sum entries that are all zero, and those of minutes before
   * `residentFrom` in which no open session starts that were not updated since the previous
   * pass (all of them when `pressed` by the budget); and lane entries merged, or zero, once
   * written. Keeping an entry is always safe: a resident entry is the truth for its key. A minute
   * that loses a non-zero entry is no longer complete; one left with no entry and no open session
   * is forgotten.
   */
  private evictSums(pressed: boolean): void {
    const from = this.residentFrom / MINUTE_MS;
    for (const site of this.sites.values()) {
      const open = site.openStarts;
      const held = new Set<number>();
      const drop = (e: SumEntry): boolean => {
        if (e.dirty) return false;
        if (isZero(e)) return true;
        if (e.minute >= from || open.has(e.minute) || !(pressed || !e.touched)) {
          e.touched = false;
          held.add(e.minute);
          return false;
        }
        if (site.complete.delete(e.minute)) this.account(-SESSION_MEMORY_BYTES.completeMinute);
        return true;
      };
      let dropped = removeWhere(site.totals, drop);
      for (const [page, sums] of site.pages) {
        dropped += removeWhere(sums.entries, drop) + removeWhere(sums.exits, drop);
        if (sums.entries.length > 0 || sums.exits.length > 0) continue;
        site.pages.delete(page);
        this.pages.release(page);
        this.account(-SESSION_MEMORY_BYTES.pageSums);
      }
      this.account(-dropped * SESSION_MEMORY_BYTES.sumEntry);
      for (const minute of site.complete) {
        if (held.has(minute) || open.has(minute)) continue;
        site.complete.delete(minute);
        this.account(-SESSION_MEMORY_BYTES.completeMinute);
      }
    }
    for (const [id, e] of this.lane) {
      if (e.dirty || !(e.merged || isZero(e))) continue;
      this.lane.delete(id);
      if (!e.merged) this.laneUnmerged -= 1;
      this.account(-laneBytes(id));
    }
  }

  /** Lets go of sites that hold nothing. */
  private dropSites(): void {
    for (const [id, site] of this.sites) {
      if (site.visitors > 0 || site.totals.length > 0 || site.pages.size > 0 || site.openStarts.size > 0 || site.complete.size > 0) continue;
      this.sites.delete(id);
      this.siteList[site.index] = undefined;
      this.freeSites.push(site.index);
      this.account(-(SESSION_MEMORY_BYTES.site + SESSION_MEMORY_BYTES.string(id)));
    }
  }

  /** Gives this state's bytes back to the budget (the partition is dropped). */
  release(): void {
    this.budget.used -= this.bytes;
    this.bytes = 0;
  }

  /** Estimated bytes held (see SESSION_MEMORY_BYTES), as accounted in the byte budget. */
  get memoryBytes(): number {
    return this.bytes;
  }

  /** Open sessions held. */
  get activeVisitors(): number {
    return this.table.live;
  }

  /** Open sessions closed early, beyond the byte budget (each may cost one visit too many; see the module's doc). */
  get earlyEvictions(): number {
    return this.early;
  }

  /** Open sessions closed, for any reason (early ones included). */
  get closedSessions(): number {
    return this.closedCount;
  }
}
