/**
 * Committed offsets of the embedded log's consumer groups: one JSON file per group under
 * `<topic>/groups/`, written atomically, cached in memory, and written one commit at a time
 * per group.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { corrupt, errnoCode, fsError, writeFileAtomic } from './embedded-files.ts';

export class GroupOffsets {
  private readonly cache = new Map<string, Map<number, number>>();
  private readonly chains = new Map<string, Promise<unknown>>();

  /** `dir`: the topic's groups folder. */
  constructor(readonly dir: string) {}

  private file(groupId: string): string {
    return path.join(this.dir, `${encodeURIComponent(groupId)}.json`);
  }

  async committed(groupId: string): Promise<Map<number, number>> {
    const cached = this.cache.get(groupId);
    if (cached !== undefined) return new Map(cached);
    const file = this.file(groupId);
    const offsets = new Map<number, number>();
    let text: string | null = null;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw fsError(err, `reading ${file}`);
    }
    if (text !== null) {
      let parsed: { offsets?: Record<string, unknown> };
      try {
        parsed = JSON.parse(text) as { offsets?: Record<string, unknown> };
      } catch {
        throw corrupt(`${file} is not valid JSON`, { file });
      }
      for (const [partition, offset] of Object.entries(parsed.offsets ?? {})) {
        if (typeof offset === 'number') offsets.set(Number(partition), offset);
      }
    }
    this.cache.set(groupId, offsets);
    return new Map(offsets);
  }

  /** Writes `offsets` over the group's committed ones, after its earlier commits. The caller validates them. */
  commit(groupId: string, offsets: ReadonlyMap<number, number>): Promise<void> {
    const previous = this.chains.get(groupId) ?? Promise.resolve();
    const run = previous.then(async () => {
      const next = await this.committed(groupId);
      for (const [partition, offset] of offsets) next.set(partition, offset);
      const body = {
        version: 1,
        groupId,
        offsets: Object.fromEntries([...next].sort((a, b) => a[0] - b[0])),
      };
      try {
        await writeFileAtomic(this.file(groupId), `${JSON.stringify(body)}\n`);
      } catch (err) {
        throw fsError(err, `committing offsets of group ${groupId}`);
      }
      this.cache.set(groupId, next);
    });
    this.chains.set(
      groupId,
      run.catch(() => undefined),
    );
    return run;
  }

  /** Resolves when every commit in flight has settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.chains.values()]);
  }
}
