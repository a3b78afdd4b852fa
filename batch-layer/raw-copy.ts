/**
 * The raw copy of a batch run: the log's records in the plan's offset ranges appended to the
 * store's raw copy (valid events) or its invalid-record ledger (the rest), partitions in
 * parallel, and in each partition reading the next batch while the previous one is inserted.
 *
 * Why the order of inserts matters (crash safety). A run resumes each partition after the
 * highest offset found in either table (`rawCopyEndOffsets`), so at any moment the copied
 * offsets of a partition must be a prefix of its range, or a crash would make the next run
 * skip the hole. Hence, per partition:
 *  - at most one insert is in flight, and batch k+1's first insert starts only once every
 *    insert of batch k (its events, the halves of a poison bisection, its ledger entries) has
 *    succeeded: the batches land strictly in offset order, and a batch's rows are contiguous
 *    offsets, so a crash leaves batches 1..k whole and batch k+1 absent or partly written;
 *  - within a batch, events go in first and their ledger entries after: a crash between the two
 *    can lose ledger entries below the highest copied event (the ledger is a report, and those
 *    records were never events), never an event. A bisection writes the lower half first, so
 *    its partial writes keep the prefix too. One insert is atomic on both engines (one block of
 *    at most 50,000 rows on ClickHouse, one transaction on DuckDB).
 * Partitions are independent (each has its own resume point), so their copies run in parallel
 * with no order between them. A rerun over an overlap is harmless: the copy is idempotent by
 * (partition, offset) (ReplacingMergeTree on ClickHouse; the build deduplicates by eventId and
 * counts a position copied twice as one copy).
 *
 * Memory: per partition at most the batch being inserted and the one being read (plus one read
 * chunk), so about 2 × `batchSize` rows × `concurrency`.
 *
 * Retries: a batch whose insert fails with a retriable store error (the store unreachable, a
 * stale connection, an overloaded server) is written again, up to RAW_COPY_WRITE_ATTEMPTS times
 * in all, before the partition's next batch starts: the copy is idempotent by (partition,
 * offset), so rows that did land the first time are harmless, and the order above holds.
 *
 * Failure: the first error that is not retried (a read, an insert the store does not take, or
 * the last attempt) stops every partition at its next chunk; the copy waits for every read and
 * insert in flight to settle, then rejects with that error. Nothing is left running behind a
 * failed run, and each partition's copied offsets stay a prefix for the next run to resume.
 */
import { decodePageView, VISIT_FIELDS, type VisitField } from '../shared/core/page-view.ts';
import { hash64, type Hash64 } from '../shared/core/sketches/hash.ts';
import { HLL_BATCH_PRECISION, hllRegister, type HllRegister } from '../shared/core/sketches/hyperloglog.ts';
import { isPlatformError } from '../shared/core/errors.ts';
import type { EventLog, LogRecord } from '../shared/adapters/event-log/index.ts';
import type { Logger } from '../shared/runtime/logger.ts';
import { writeIsolatingRefused, type BatchViewWriter, type InvalidRecordRow, type RawEventRow } from '../shared/adapters/view-store/index.ts';

export interface RawCopyRange {
  partition: number;
  /** Inclusive. */
  from: number;
  /** Exclusive. */
  to: number;
}

export interface RawCopyOptions {
  /** Rows (events and invalid records) per batch: one insert of each table. */
  batchSize: number;
  /** Partitions copied at the same time (at most the number of ranges to copy). */
  concurrency: number;
  logger: Logger;
  /** Called after each batch is written, with its rows: all of them, and the invalid ones. */
  onBatchWritten(rows: number, invalid: number): void;
}

/** What the copy needs from the store. */
export type RawCopyStore = Pick<BatchViewWriter, 'appendRawEvents' | 'appendInvalidRecords'>;

/** Attempts in all of one batch's write on a retriable store error; waits 0.5 s, then 1 s, between them. */
export const RAW_COPY_WRITE_ATTEMPTS = 3;
const RETRY_BASE_MS = 500;

/** One batch of a partition: its valid events and its invalid records, in offset order. */
interface Batch {
  raw: RawEventRow[];
  invalid: InvalidRecordRow[];
}

/** Thrown into the reads of other partitions once one has failed; never the reported error. */
class CopyStopped extends Error {
  constructor() {
    super('raw copy stopped: another partition failed');
    this.name = 'CopyStopped';
  }
}

const visitorHash: Hash64 = { hi: 0, lo: 0 };
const visitorRegister: HllRegister = { index: 0, rank: 0 };

/** Decodes one record into a raw row, or an invalid-record row with the validator's reasons. */
function toRawRow(record: LogRecord, batch: Batch): void {
  const decoded = decodePageView(record.value);
  if (!decoded.ok) {
    const reason = decoded.errors.map((e) => (e.field === '' ? e.message : `${e.field}: ${e.message}`)).join('; ');
    batch.invalid.push({ partition: record.partition, offset: record.offset, reason: reason.slice(0, 1000) });
    return;
  }
  const e = decoded.event;
  hash64(e.visitorId, visitorHash);
  hllRegister(visitorHash.hi, visitorHash.lo, HLL_BATCH_PRECISION, visitorRegister);
  const row: RawEventRow = {
    partition: record.partition,
    offset: record.offset,
    eventId: e.eventId,
    site: e.site,
    pageId: e.pageId,
    visitorId: e.visitorId,
    visitorHllIndex: visitorRegister.index,
    visitorHllRank: visitorRegister.rank,
    eventTime: e.timestamp,
    referrer: e.referrer ?? '',
    userAgent: e.userAgent ?? '',
    schemaVersion: e.schemaVersion,
  };
  // Schema v2: the visit fields the collector derived, as they are (absent stays absent).
  if (e.schemaVersion === 2) for (const field of VISIT_FIELDS) if (e[field] !== undefined) (row as unknown as Record<VisitField, unknown>)[field] = e[field];
  batch.raw.push(row);
}

/**
 * Copies the ranges (see the module comment for the order and failure rules). Resolves once
 * every batch is written; rejects with the first failure after everything in flight settled.
 */
export async function copyRawRanges(log: EventLog, store: RawCopyStore, ranges: readonly RawCopyRange[], options: RawCopyOptions): Promise<void> {
  const pending = ranges.filter((r) => r.from < r.to);
  const failure: { error?: unknown } = {};
  const fail = (err: unknown): void => {
    if (!('error' in failure) && !(err instanceof CopyStopped)) failure.error = err;
  };
  const stopped = (): boolean => 'error' in failure;

  /** Writes one batch, again on a retriable store error (see the module comment). */
  const writeBatch = async (batch: Batch): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await writeBatchOnce(batch);
        return;
      } catch (err) {
        if (!isPlatformError(err) || !err.retriable || attempt >= RAW_COPY_WRITE_ATTEMPTS || stopped()) throw err;
        const first = batch.raw[0] ?? batch.invalid[0];
        options.logger.warn({ err, partition: first?.partition, offset: first?.offset, attempt }, 'raw copy insert failed; writing the batch again');
        await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 2 ** (attempt - 1)));
      }
    }
  };

  /** Writes one batch: events (poison isolated), then the ledger entries. */
  const writeBatchOnce = async (batch: Batch): Promise<void> => {
    // Events the store refuses (invariant 11) are isolated and go to the ledger instead, so one
    // poison record never fails this run or the next.
    const refused = await writeIsolatingRefused(batch.raw, (rows) => store.appendRawEvents(rows));
    let invalid = batch.invalid;
    if (refused.length > 0) {
      invalid = [...invalid];
      for (const { row, error } of refused) {
        invalid.push({ partition: row.partition, offset: row.offset, reason: `refused by the view store: ${error.message}`.slice(0, 1000) });
      }
      options.logger.warn({ count: refused.length, err: refused[0]?.error }, 'raw events refused by the store went to the invalid-record ledger');
    }
    await store.appendInvalidRecords(invalid);
    // Refused events are counted once, as invalid records.
    options.onBatchWritten(batch.raw.length - refused.length + invalid.length, invalid.length);
  };

  const copyPartition = async (range: RawCopyRange): Promise<void> => {
    let batch: Batch = { raw: [], invalid: [] };
    // The insert in flight: it never rejects (its failure goes to `failure`), so no rejection
    // is ever unhandled while the read goes on.
    let inFlight: Promise<void> = Promise.resolve();
    const startWrite = async (): Promise<void> => {
      // Strict order: the previous batch of this partition is written before this one starts.
      await inFlight;
      if (stopped()) throw new CopyStopped();
      const full = batch;
      batch = { raw: [], invalid: [] };
      inFlight = writeBatch(full).catch(fail);
    };
    try {
      await log.readRange({
        partition: range.partition,
        fromOffset: range.from,
        toOffset: range.to,
        onRecords: async (records) => {
          if (stopped()) throw new CopyStopped();
          for (const record of records) toRawRow(record, batch);
          if (batch.raw.length + batch.invalid.length >= options.batchSize) await startWrite();
        },
      });
      if (batch.raw.length + batch.invalid.length > 0) await startWrite();
    } finally {
      // Never leave an insert running behind the copy, whether the read succeeded or not.
      await inFlight;
    }
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (!stopped() && next < pending.length) {
      const range = pending[next++]!;
      await copyPartition(range).catch(fail);
    }
  };
  const workers = Math.max(1, Math.min(pending.length, options.concurrency));
  await Promise.all(Array.from({ length: workers }, worker));
  if ('error' in failure) throw failure.error;
}
