/**
 * The write path of the embedded log's topic store: appends, segment rolls and retention. The
 * store routes messages to partitions and runs these calls one at a time.
 *
 * Durability: each partition's frames of an append (one group commit of the store: one or more
 * append calls) go to disk with one positional write, then fdatasync, and only then become
 * visible (end offsets, readers, consumers). The folder is fsynced only when a segment file is
 * created or deleted. A failed write is truncated back; when that fails too, appends are
 * refused until the log is reopened.
 */
import path from 'node:path';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { PlatformError } from '../../core/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { encodeFrame, type PreparedMessage } from './embedded-codec.ts';
import { corrupt, errnoCode, fsError, fsyncDir } from './embedded-files.ts';
import type { ResolvedOptions } from './embedded-log.ts';
import { Segment, segmentFileName, type PartitionLog } from './embedded-segment.ts';

/** Appends, segment rolls and retention of one topic's partitions. */
export class PartitionWriter {
  /** Set when a failed write could not be undone; the store then refuses appends. */
  failed: PlatformError | null = null;

  constructor(
    private readonly dir: string,
    private readonly options: ResolvedOptions,
    private readonly logger: Logger,
    /** True once the store is closed: retention then does nothing. */
    private readonly isClosed: () => boolean,
  ) {}

  async appendToPartition(partition: PartitionLog, messages: PreparedMessage[]): Promise<void> {
    const timestamp = this.options.now();
    const segmentBytes = this.options.segmentBytes;
    let rolled = false;
    let batch: PreparedMessage[] = [];
    let batchBytes = 0;
    for (const message of messages) {
      if (partition.active.size + batchBytes > 0 && partition.active.size + batchBytes + message.size > segmentBytes) {
        if (batch.length > 0) await this.writeBatch(partition, batch, batchBytes, timestamp);
        await this.roll(partition);
        rolled = true;
        batch = [];
        batchBytes = 0;
      }
      batch.push(message);
      batchBytes += message.size;
    }
    if (batch.length > 0) await this.writeBatch(partition, batch, batchBytes, timestamp);
    if (rolled) await this.retainPartition(partition);
  }

  /** One positional write + fdatasync; the records become visible only afterwards. */
  private async writeBatch(partition: PartitionLog, batch: PreparedMessage[], bytes: number, timestamp: number): Promise<void> {
    const segment = partition.active;
    const handle = partition.handle!;
    const buffer = Buffer.allocUnsafe(bytes);
    const positions: number[] = [];
    let p = 0;
    let offset = segment.endOffset;
    for (let i = 0; i < batch.length; i++) {
      positions.push(segment.size + p);
      p += encodeFrame(buffer, p, batch[i]!, offset++, timestamp, i);
    }
    try {
      let written = 0;
      while (written < bytes) {
        const { bytesWritten } = await handle.write(buffer, written, bytes - written, segment.size + written);
        written += bytesWritten;
      }
      await handle.datasync();
    } catch (err) {
      const error = fsError(err, `appending to ${segment.file}`);
      try {
        await handle.truncate(segment.size);
      } catch (truncateErr) {
        this.failed = new PlatformError(
          'PV_LOG_UNAVAILABLE',
          `embedded log ${this.dir} failed a write and could not undo it; reopen it to recover`,
          { cause: truncateErr, retriable: false },
        );
        this.logger.error({ err: truncateErr }, 'could not undo a failed write; appends are disabled');
      }
      throw error;
    }
    let first = segment.endOffset;
    for (const position of positions) segment.track(first++, position, timestamp);
    segment.size += bytes;
  }

  private async roll(partition: PartitionLog): Promise<void> {
    const base = partition.endOffset;
    const segment = new Segment(base, path.join(partition.dir, segmentFileName(base)));
    let handle: FileHandle;
    try {
      handle = await open(segment.file, 'wx+');
      await fsyncDir(partition.dir);
    } catch (err) {
      throw errnoCode(err) === 'EEXIST'
        ? corrupt(`segment ${segment.file} already exists`, { partition: partition.id, file: segment.file })
        : fsError(err, `rolling to ${segment.file}`);
    }
    const previous = partition.handle;
    partition.segments.push(segment);
    partition.handle = handle;
    await previous?.close();
    this.logger.debug({ partition: partition.id, baseOffset: base }, 'segment rolled');
  }

  /**
   * Deletes the expired sealed segments of a partition; returns how many. Must run inside the
   * store's `serialize`.
   */
  async retainPartition(partition: PartitionLog): Promise<number> {
    const retentionMs = this.options.retentionMs;
    if (retentionMs < 0 || this.isClosed()) return 0;
    const cutoff = this.options.now() - retentionMs;
    let deleted = 0;
    while (partition.segments.length > 1 && partition.segments[0]!.maxTimestamp < cutoff) {
      const segment = partition.segments[0]!;
      // Readers open segments by path and keep their own handle, so unlinking is safe.
      partition.segments.shift();
      try {
        await unlink(segment.file);
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') {
          partition.segments.unshift(segment);
          throw fsError(err, `deleting ${segment.file}`);
        }
      }
      deleted++;
      this.logger.info(
        { partition: partition.id, baseOffset: segment.baseOffset, endOffset: segment.endOffset },
        'retention deleted a segment',
      );
    }
    if (deleted > 0) await fsyncDir(partition.dir);
    return deleted;
  }
}
