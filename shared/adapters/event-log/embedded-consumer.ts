/**
 * Reading the embedded log: PartitionCursor, the sequential reader over one partition (used by
 * `readRange` and by consumers), and EmbeddedConsumer, the poll loop of a group's one member.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { isPlatformError, type PlatformError } from '../../core/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { FrameReader, NEED_MORE, decodeRecord, readU64 } from './embedded-codec.ts';
import { corrupt, errnoCode, fsError, outOfRange } from './embedded-files.ts';
import type { PartitionLog, Segment } from './embedded-segment.ts';
import type { TopicStore } from './embedded-topic-store.ts';
import type { ConsumeOptions, LogBatch, LogConsumer, LogRecord } from './event-log.ts';

/** Records per `eachBatch` call and per `onRecords` chunk of `readRange`. */
export const EMBEDDED_MAX_BATCH_RECORDS = 10_000;
/** A consumer batch stops growing past this many bytes (at least one record is delivered). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
const MAX_CONSUMER_BACKOFF_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Cursor
// ---------------------------------------------------------------------------------------------

/** Sequential reader over one partition, crossing segments. */
export class PartitionCursor {
  private segment: Segment | null = null;
  private handle: FileHandle | null = null;
  private reader: FrameReader | null = null;
  private next: number;

  /** The offset the next read starts at. */
  get position(): number {
    return this.next;
  }

  constructor(
    readonly partition: PartitionLog,
    private readonly from: number,
  ) {
    this.next = from;
  }

  private async openSegment(offset: number): Promise<boolean> {
    const segment = this.partition.segmentFor(offset);
    if (segment === null || offset < this.partition.startOffset) {
      throw outOfRange(`offset ${offset} of partition ${this.partition.id} is below the retained start`, {
        partition: this.partition.id,
        offset,
        startOffset: this.partition.startOffset,
      });
    }
    if (segment === this.segment) return false;
    await this.close();
    try {
      this.handle = await open(segment.file, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        throw outOfRange(`offset ${offset} of partition ${this.partition.id} was deleted by retention`, {
          partition: this.partition.id,
          offset,
        });
      }
      throw fsError(err, `opening ${segment.file}`);
    }
    const start = segment.lookup(offset);
    this.segment = segment;
    this.reader = new FrameReader(this.handle, start.position, () => segment.size);
    this.next = start.offset;
    return true;
  }

  async read(to: number, maxRecords: number, maxBytes: number): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    if (this.reader === null) await this.openSegment(this.next);
    let bytes = 0;
    const partitionId = this.partition.id;
    while (this.next < to && out.length < maxRecords && bytes < maxBytes) {
      const reader = this.reader!;
      const parsed = reader.parse();
      if (parsed === NEED_MORE) {
        const more = await reader.refill();
        if (more === true) continue;
        if (more === 'truncated') throw this.corruptAt('truncated');
        // End of this segment's committed bytes: move on when the next offset lives in a later one.
        if (this.next < this.segment!.endOffset) throw this.corruptAt('truncated');
        if (!(await this.openSegment(this.next))) break;
        continue;
      }
      if (typeof parsed !== 'number') throw this.corruptAt(parsed);
      const buf = reader.buffer;
      const start = reader.payloadStart;
      const offset = readU64(buf, start + 2);
      if (offset !== this.next) throw this.corruptAt(`offset ${offset}, expected ${this.next}`);
      if (offset >= this.from) {
        try {
          out.push(decodeRecord(buf, start, start + parsed, partitionId));
        } catch {
          throw this.corruptAt('undecodable payload');
        }
        bytes += parsed;
      }
      reader.advance(parsed);
      this.next++;
    }
    return out;
  }

  private corruptAt(problem: string): PlatformError {
    return corrupt(`bad frame while reading (${problem})`, {
      partition: this.partition.id,
      file: this.segment?.file,
      position: this.reader?.pos,
    });
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    this.reader = null;
    this.segment = null;
    await handle?.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Consumer
// ---------------------------------------------------------------------------------------------

export class EmbeddedConsumer implements LogConsumer {
  private readonly positions = new Map<number, number>();
  /**
   * One open cursor per partition, kept between batches while it sits at the partition's
   * position: a consumer that follows the end of the log does not open and close the segment
   * file for every batch.
   */
  private readonly cursors = new Map<number, PartitionCursor>();
  private stopping = false;
  private stopPromise: Promise<void> | null = null;
  private loopPromise: Promise<void> = Promise.resolve();
  private readonly wake: { cancel?: () => void } = {};
  private readonly all: number[];
  private readonly logger: Logger;

  constructor(
    private readonly store: TopicStore,
    private readonly options: ConsumeOptions,
    private readonly pollIntervalMs: number,
    private readonly onStopped: (consumer: EmbeddedConsumer) => void,
  ) {
    this.all = store.partitions.map((p) => p.id);
    this.logger = store.logger.child({ groupId: options.groupId });
  }

  async start(): Promise<void> {
    const committed = await this.store.committed(this.options.groupId);
    for (const partition of this.store.partitions) {
      this.positions.set(partition.id, committed.get(partition.id) ?? partition.startOffset);
    }
    await this.options.onAssigned?.([...this.all]);
    this.loopPromise = this.loop();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let first = 0;
    try {
      while (!this.stopping) {
        const seq = this.store.appendSeq;
        let delivered = false;
        let failed = false;
        for (let n = 0; n < this.all.length && !this.stopping; n++) {
          const id = this.all[(first + n) % this.all.length]!;
          try {
            if (await this.deliver(id)) delivered = true;
            failures = 0;
          } catch (err) {
            failed = true;
            failures++;
            this.logger.error({ err, partition: id, offset: this.positions.get(id) }, 'eachBatch failed; retrying the batch');
            break;
          }
        }
        first = (first + 1) % this.all.length;
        if (this.stopping) break;
        if (failed) {
          await this.sleep(Math.min(MAX_CONSUMER_BACKOFF_MS, 250 * 2 ** Math.min(failures, 10)));
        } else if (!delivered) {
          await this.store.waitForAppend(seq, this.pollIntervalMs, this.wake);
        }
      }
    } finally {
      for (const cursor of this.cursors.values()) await cursor.close();
      this.cursors.clear();
      try {
        await this.options.onRevoked?.([...this.all]);
      } catch (err) {
        this.logger.error({ err }, 'onRevoked failed');
      }
    }
  }

  /** Delivers one batch of a partition; false when there was nothing to deliver. */
  private async deliver(id: number): Promise<boolean> {
    const partition = this.store.partition(id);
    let position = this.positions.get(id)!;
    if (position < partition.startOffset) {
      this.logger.warn(
        { partition: id, position, startOffset: partition.startOffset },
        'position below the retained start (deleted by retention); resuming from the start',
      );
      position = partition.startOffset;
      this.positions.set(id, position);
    }
    const end = partition.endOffset;
    if (position >= end) return false;
    let records: LogRecord[];
    let cursor = this.cursors.get(id);
    if (cursor === undefined || cursor.position !== position || cursor.partition !== partition) {
      await cursor?.close();
      cursor = new PartitionCursor(partition, position);
      this.cursors.set(id, cursor);
    }
    try {
      records = await cursor.read(Math.min(end, position + EMBEDDED_MAX_BATCH_RECORDS), EMBEDDED_MAX_BATCH_RECORDS, MAX_BATCH_BYTES);
    } catch (err) {
      this.cursors.delete(id);
      await cursor.close();
      if (isPlatformError(err, 'PV_OFFSET_OUT_OF_RANGE')) return false; // retention raced us; re-check next round
      throw err;
    }
    if (records.length === 0) return false;
    const batch: LogBatch = { partition: id, records, highWatermark: end };
    await this.options.eachBatch(batch);
    this.positions.set(id, records[records.length - 1]!.offset + 1);
    return true;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        delete this.wake.cancel;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.cancel = done;
    });
  }

  commit(offsets: ReadonlyMap<number, number>): Promise<void> {
    try {
      return this.store.commit(this.options.groupId, offsets);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  assignment(): number[] {
    return this.stopping ? [] : [...this.all];
  }

  /** Ends the poll loop after the in-flight batch; do not await it inside eachBatch. */
  stop(): Promise<void> {
    if (this.stopPromise === null) {
      this.stopping = true;
      this.wake.cancel?.();
      this.stopPromise = this.loopPromise.finally(() => this.onStopped(this));
    }
    return this.stopPromise;
  }
}
