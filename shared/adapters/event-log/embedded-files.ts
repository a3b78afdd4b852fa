/**
 * File-system helpers of the embedded log: its error constructors (fs errors become
 * PlatformErrors here), folder fsync, durable mkdir, full positional writes, atomic file
 * writes and the topic folder's lock file.
 */
import path from 'node:path';
import { mkdir, open, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { PlatformError } from '../../core/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { isProcessAlive } from '../../runtime/processes.ts';

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const RETRIABLE_FS_CODES = new Set(['ENOSPC', 'EDQUOT', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EINTR', 'ETIMEDOUT']);

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Converts an fs error into a PlatformError (PlatformErrors pass through). */
export function fsError(err: unknown, what: string): PlatformError {
  if (err instanceof PlatformError) return err;
  const code = errnoCode(err);
  return new PlatformError('PV_LOG_UNAVAILABLE', `embedded log: ${what} failed${code ? ` (${code})` : ''}`, {
    cause: err,
    retriable: code !== undefined && RETRIABLE_FS_CODES.has(code),
  });
}

export function corrupt(message: string, details: Record<string, unknown>): PlatformError {
  return new PlatformError('PV_LOG_CORRUPT', `embedded log corrupt: ${message}`, { details });
}

export function closedError(): PlatformError {
  // Retriable: the process is shutting down; another instance (or this one restarted) answers.
  return new PlatformError('PV_LOG_CLOSED', 'event log is closed', { retriable: true });
}

export function outOfRange(message: string, details: Record<string, unknown>): PlatformError {
  return new PlatformError('PV_OFFSET_OUT_OF_RANGE', message, { details });
}

// ---------------------------------------------------------------------------------------------
// Files and folders
// ---------------------------------------------------------------------------------------------

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * `mkdir -p` whose new folders survive a crash: when it creates any, it fsyncs the parent of
 * each created one. Returns whether it created any.
 */
export async function mkdirDurable(dir: string): Promise<boolean> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return false;
  for (let created = dir; ; created = path.dirname(created)) {
    await fsyncDir(path.dirname(created));
    if (created === first || path.dirname(created) === created) break;
  }
  return true;
}

/** Writes all of `buffer` at `position` (positional writes may be short). */
export async function writeFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, position + written);
    written += bytesWritten;
  }
}

/** A tmp-file name beside `file`; `loadTopic` removes leftovers of these after a crash. */
export function tmpFileFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

/** Writes a file atomically: tmp file, fsync, rename, fsync of the folder. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = tmpFileFor(file);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

// ---------------------------------------------------------------------------------------------
// The topic folder's lock
// ---------------------------------------------------------------------------------------------

function lockFile(dir: string): string {
  return path.join(dir, '.lock');
}

/** One process owns a topic folder: a second writer would corrupt it. */
export async function lockTopicDir(dir: string, logger: Logger): Promise<void> {
  const file = lockFile(dir);
  try {
    const handle = await open(file, 'wx');
    try {
      await handle.writeFile(String(process.pid));
    } finally {
      await handle.close();
    }
    return;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(err, `locking ${dir}`);
  }
  let owner = Number.NaN;
  try {
    owner = Number((await readFile(file, 'utf8')).trim());
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw fsError(err, `reading ${file}`);
  }
  // Our own pid here means a previous instance of this process did not close (this
  // process's open stores are tracked in `openStores` of embedded-topic-store.ts, so it is
  // not a live owner).
  if (Number.isInteger(owner) && owner !== process.pid && isProcessAlive(owner)) {
    throw new PlatformError(
      'PV_LOG_UNAVAILABLE',
      `embedded log ${dir} is in use by process ${owner}; one process owns an embedded log`,
      { retriable: false, details: { dir, pid: owner } },
    );
  }
  logger.warn({ stalePid: Number.isNaN(owner) ? null : owner }, 'taking over a stale lock');
  try {
    await writeFileAtomic(file, String(process.pid));
  } catch (err) {
    throw fsError(err, `locking ${dir}`);
  }
}

export async function unlockTopicDir(dir: string, logger: Logger): Promise<void> {
  try {
    await unlink(lockFile(dir));
  } catch (err) {
    logger.warn({ err }, 'could not remove the lock file');
  }
}
