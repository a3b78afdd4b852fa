/**
 * The embedded log's topic store: one per topic folder and process, shared by every
 * EmbeddedEventLog of the process on that folder (acquireStore / releaseStore). It owns the
 * folder's lock, routes appends to partitions and runs writes one at a time, wakes consumers,
 * runs retention, and reads and commits group offsets.
 *
 * Group commit: appends that arrive while a write is in flight wait for it and then go to disk
 * together, one write + one fdatasync per partition for all of them. Each call resolves once
 * its records are synced (and rejects when one of its partitions failed).
 *
 * Layout (one folder per topic under `dataDir`):
 *
 *   <dataDir>/<topic>/topic.json                     {"version":1,"partitions":4}
 *   <dataDir>/<topic>/.lock                          pid of the owning process
 *   <dataDir>/<topic>/<partition>/<baseOffset>.log   segments, base offset zero-padded to 20 digits
 *   <dataDir>/<topic>/groups/offsets.log             committed offsets of every group, append-only
 */
import path from 'node:path';
import { isPlatformError } from '../../core/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { prepareMessage, type PreparedMessage } from './embedded-codec.ts';
import { PartitionCursor } from './embedded-consumer.ts';
import { closedError, fsError, lockTopicDir, mkdirDurable, unlockTopicDir } from './embedded-files.ts';
import { GroupOffsets } from './embedded-groups.ts';
import type { ResolvedOptions } from './embedded-log.ts';
import { loadTopic } from './embedded-recovery.ts';
import type { PartitionLog } from './embedded-segment.ts';
import { PartitionWriter } from './embedded-writer.ts';
import type { LogMessage, LogRecord } from './event-log.ts';
import { partitionForKey } from './partitioner.ts';

// ---------------------------------------------------------------------------------------------
// The stores of this process: one per topic folder, shared by every EmbeddedEventLog on it
// ---------------------------------------------------------------------------------------------

interface StoreEntry {
  store: Promise<TopicStore>;
  refs: number;
}

/** Open topic stores of this process, by absolute topic folder: one writer per topic. */
const openStores = new Map<string, StoreEntry>();
/** Stores being closed: a reopen waits for them (they still hold the lock file). */
const closingStores = new Map<string, Promise<void>>();

export async function acquireStore(topic: string, options: ResolvedOptions): Promise<TopicStore> {
  const dir = path.resolve(options.dataDir, topic);
  let entry = openStores.get(dir);
  if (entry === undefined) {
    const closing = closingStores.get(dir) ?? Promise.resolve();
    const store = closing.then(() => TopicStore.open(dir, topic, options));
    entry = { store, refs: 0 };
    openStores.set(dir, entry);
    const created = entry;
    store.catch(() => {
      if (openStores.get(dir) === created) openStores.delete(dir);
    });
  }
  entry.refs++;
  try {
    const store = await entry.store;
    store.checkSharedOptions(options);
    return store;
  } catch (err) {
    entry.refs--;
    throw err;
  }
}

export async function releaseStore(store: TopicStore): Promise<void> {
  const entry = openStores.get(store.dir);
  if (entry === undefined) return;
  entry.refs--;
  if (entry.refs > 0) return;
  openStores.delete(store.dir);
  const closing = store.close().finally(() => {
    if (closingStores.get(store.dir) === closing) closingStores.delete(store.dir);
  });
  closingStores.set(store.dir, closing);
  await closing;
}

// ---------------------------------------------------------------------------------------------
// The topic store
// ---------------------------------------------------------------------------------------------

/**
 * A group commit takes pending appends up to about this many bytes (at least one call); the
 * rest go into the next write.
 */
const GROUP_COMMIT_MAX_BYTES = 32 * 1024 * 1024;

/** An append call waiting for the next group commit. */
interface PendingAppend {
  perPartition: Map<number, PreparedMessage[]>;
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class TopicStore {
  readonly partitions: PartitionLog[] = [];
  /** Bumped after every append that made records visible. */
  appendSeq = 0;
  private readonly listeners = new Set<() => void>();
  private writeChain: Promise<unknown> = Promise.resolve();
  private pendingAppends: PendingAppend[] = [];
  private flushQueued = false;
  private roundRobin = 0;
  private closed = false;
  private retentionTimer: NodeJS.Timeout | null = null;
  private readonly writer: PartitionWriter;
  private readonly groups: GroupOffsets;
  readonly activeGroups = new Set<string>();
  readonly logger: Logger;

  private constructor(
    readonly dir: string,
    readonly topic: string,
    readonly options: ResolvedOptions,
  ) {
    this.logger = options.logger.child({ module: 'embedded-log', topic });
    this.writer = new PartitionWriter(dir, options, this.logger, () => this.closed);
    this.groups = new GroupOffsets(this.groupsDir, this.logger);
  }

  get groupsDir(): string {
    return path.join(this.dir, 'groups');
  }

  static async open(dir: string, topic: string, options: ResolvedOptions): Promise<TopicStore> {
    const store = new TopicStore(dir, topic, options);
    try {
      await mkdirDurable(dir);
    } catch (err) {
      throw fsError(err, `creating ${dir}`);
    }
    await lockTopicDir(dir, store.logger);
    try {
      await loadTopic(store);
      await store.groups.open();
    } catch (err) {
      await store.closeHandles();
      await store.groups.close();
      await unlockTopicDir(dir, store.logger);
      throw isPlatformError(err) ? err : fsError(err, `opening ${dir}`);
    }
    if (options.retentionMs >= 0) {
      store.retentionTimer = setInterval(() => {
        store.applyRetention().catch((err: unknown) => store.logger.error({ err }, 'retention failed'));
      }, options.retentionCheckIntervalMs);
      store.retentionTimer.unref();
    }
    return store;
  }

  checkSharedOptions(options: ResolvedOptions): void {
    const mine = this.options;
    if (
      mine.retentionMs !== options.retentionMs ||
      mine.segmentBytes !== options.segmentBytes ||
      mine.now !== options.now
    ) {
      this.logger.warn(
        { retentionMs: mine.retentionMs, segmentBytes: mine.segmentBytes },
        'topic already open in this process with other options; the first options stay in effect',
      );
    }
  }

  // ----- append -------------------------------------------------------------------------------

  private ensureOpen(): void {
    if (this.closed) throw closedError();
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(task, task);
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  append(messages: readonly LogMessage[]): Promise<void> {
    this.ensureOpen();
    const count = this.partitions.length;
    const perPartition = new Map<number, PreparedMessage[]>();
    let bytes = 0;
    for (const message of messages) {
      const partition =
        message.key === null ? this.roundRobin++ % count : partitionForKey(message.key, count);
      const prepared = prepareMessage(message, partition);
      let list = perPartition.get(partition);
      if (list === undefined) perPartition.set(partition, (list = []));
      list.push(prepared);
      bytes += prepared.size;
    }
    if (this.roundRobin >= Number.MAX_SAFE_INTEGER) this.roundRobin = 0;
    if (perPartition.size === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pendingAppends.push({ perPartition, bytes, resolve, reject });
      this.queueFlush();
    });
  }

  /** Queues one group commit of the pending appends, unless one is queued already. */
  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    void this.serialize(() => this.flushAppends());
  }

  /** Writes pending appends together: one write + fdatasync per partition. Never rejects. */
  private async flushAppends(): Promise<void> {
    this.flushQueued = false;
    let taken = 0;
    let bytes = 0;
    for (const pending of this.pendingAppends) {
      if (taken > 0 && bytes + pending.bytes > GROUP_COMMIT_MAX_BYTES) break;
      bytes += pending.bytes;
      taken++;
    }
    const group = this.pendingAppends.splice(0, taken);
    if (this.pendingAppends.length > 0) this.queueFlush();
    try {
      this.ensureOpen();
      if (this.writer.failed !== null) throw this.writer.failed;
    } catch (err) {
      for (const pending of group) pending.reject(err);
      return;
    }
    // In call order, so each call's records of a partition stay consecutive.
    const merged = new Map<number, PreparedMessage[]>();
    for (const pending of group) {
      for (const [id, list] of pending.perPartition) {
        const into = merged.get(id);
        if (into === undefined) merged.set(id, group.length === 1 ? list : list.slice());
        else for (const message of list) into.push(message);
      }
    }
    // Partitions are independent files: write and fsync them in parallel.
    const ids = [...merged.keys()];
    const results = await Promise.allSettled(ids.map((id) => this.writer.appendToPartition(this.partitions[id]!, merged.get(id)!)));
    const failures = new Map<number, unknown>();
    results.forEach((result, i) => {
      if (result.status === 'rejected') failures.set(ids[i]!, result.reason);
    });
    if (failures.size < ids.length) this.notify();
    for (const pending of group) {
      const failed = [...pending.perPartition.keys()].find((id) => failures.has(id));
      if (failed === undefined) pending.resolve();
      else pending.reject(failures.get(failed));
    }
  }

  private notify(): void {
    this.appendSeq++;
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves on the next append after `seq`, after `timeoutMs`, or when `signal` fires. */
  waitForAppend(seq: number, timeoutMs: number, wake: { cancel?: () => void }): Promise<void> {
    if (this.appendSeq !== seq || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(done);
        delete wake.cancel;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.listeners.add(done);
      wake.cancel = done;
    });
  }

  // ----- retention ----------------------------------------------------------------------------

  /** Deletes expired sealed segments; returns how many. */
  applyRetention(): Promise<number> {
    if (this.options.retentionMs < 0 || this.closed) return Promise.resolve(0);
    return this.serialize(async () => {
      let deleted = 0;
      for (const partition of this.partitions) deleted += await this.writer.retainPartition(partition);
      return deleted;
    });
  }

  // ----- reads --------------------------------------------------------------------------------

  partition(id: number): PartitionLog {
    const partition = this.partitions[id];
    if (!Number.isInteger(id) || partition === undefined) {
      throw new RangeError(`partition ${id} does not exist (topic ${this.topic} has ${this.partitions.length})`);
    }
    return partition;
  }

  /** Reads up to `maxRecords` / about `maxBytes` of [from, to). */
  async read(partition: PartitionLog, from: number, to: number, maxRecords: number, maxBytes: number): Promise<LogRecord[]> {
    const cursor = new PartitionCursor(partition, from);
    try {
      return await cursor.read(to, maxRecords, maxBytes);
    } finally {
      await cursor.close();
    }
  }

  // ----- consumer groups ----------------------------------------------------------------------

  committed(groupId: string): Promise<Map<number, number>> {
    return this.groups.committed(groupId);
  }

  commit(groupId: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    this.ensureOpen();
    for (const [partition, offset] of offsets) {
      this.partition(partition);
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new RangeError(`invalid offset ${offset} for partition ${partition}`);
      }
    }
    return this.groups.commit(groupId, offsets);
  }

  // ----- close --------------------------------------------------------------------------------

  private async closeHandles(): Promise<void> {
    for (const partition of this.partitions) {
      const handle = partition.handle;
      partition.handle = null;
      await handle?.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    for (const listener of [...this.listeners]) listener();
    await this.writeChain;
    await this.groups.close();
    await this.closeHandles();
    await unlockTopicDir(this.dir, this.logger);
  }
}
