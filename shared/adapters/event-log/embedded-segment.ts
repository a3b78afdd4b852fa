/**
 * Segments and partition logs of the embedded log, in memory: a segment's committed size, end
 * offset, newest timestamp and sparse index, a partition's segments, and segment file names.
 */
import type { FileHandle } from 'node:fs/promises';

/** One sparse-index entry per this many bytes of segment. */
const INDEX_INTERVAL_BYTES = 4096;
const SEGMENT_SUFFIX = '.log';

export class Segment {
  /** Committed (fsync'ed) bytes; readers never look past it. */
  size = 0;
  /** Exclusive end offset of the records in this segment. */
  endOffset: number;
  /** Newest record timestamp; -Infinity when empty. */
  maxTimestamp = Number.NEGATIVE_INFINITY;
  /** Sparse index: offsets[i] starts at file position positions[i]. */
  private readonly indexOffsets: number[] = [];
  private readonly indexPositions: number[] = [];
  private lastIndexedPosition = Number.NEGATIVE_INFINITY;

  constructor(
    readonly baseOffset: number,
    readonly file: string,
  ) {
    this.endOffset = baseOffset;
  }

  /** Accounts for a record at `position` (called in file order). */
  track(offset: number, position: number, timestamp: number): void {
    if (position - this.lastIndexedPosition >= INDEX_INTERVAL_BYTES) {
      this.indexOffsets.push(offset);
      this.indexPositions.push(position);
      this.lastIndexedPosition = position;
    }
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    this.endOffset = offset + 1;
  }

  /** The indexed record at or before `offset` (the segment start when none). */
  lookup(offset: number): { offset: number; position: number } {
    let lo = 0;
    let hi = this.indexOffsets.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.indexOffsets[mid]! <= offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return { offset: this.baseOffset, position: 0 };
    return { offset: this.indexOffsets[found]!, position: this.indexPositions[found]! };
  }
}

export class PartitionLog {
  readonly segments: Segment[] = [];
  /** Write handle of the active (last) segment. */
  handle: FileHandle | null = null;

  constructor(
    readonly id: number,
    readonly dir: string,
  ) {}

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  get startOffset(): number {
    return this.segments[0]!.baseOffset;
  }

  get endOffset(): number {
    return this.active.endOffset;
  }

  /** The segment holding `offset`; `endOffset` maps to the active segment; null below start. */
  segmentFor(offset: number): Segment | null {
    const segments = this.segments;
    let lo = 0;
    let hi = segments.length - 1;
    let found: Segment | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const segment = segments[mid]!;
      if (segment.baseOffset <= offset) {
        found = segment;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}
