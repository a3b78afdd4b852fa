/**
 * Speed rows written as the speed layer writes them: with a checkpoint of every partition they
 * touch, after the rows. Readers that follow the speed views from checkpoint to checkpoint (the
 * serving layer's views) see only checkpointed rows, so tests that write rows by hand use this.
 */
import { speedLaneOwner, type SpeedCheckpoint, type SpeedRows, type ViewStore } from '../../shared/adapters/view-store/index.ts';


/**
 * Writes `rows` with their versions moved past every existing checkpoint (a row's version v
 * becomes base + v, so their order is kept), then a checkpoint per partition at its highest.
 */
export async function writeCheckpointedSpeedRows(store: ViewStore, rows: Partial<SpeedRows>): Promise<void> {
  const existing = await store.speedCheckpoints();
  const base = Math.max(0, ...[...existing.values()].map((cp) => cp.version));
  const highest = new Map<number, number>();
  const moved = <R extends { partition: number; version: number }>(list: readonly R[] | undefined): R[] =>
    (list ?? []).map((r) => {
      const version = base + r.version;
      const owner = speedLaneOwner(r.partition);
      highest.set(owner, Math.max(highest.get(owner) ?? 0, version));
      return { ...r, version };
    });
  const written: SpeedRows = { pageMinutes: moved(rows.pageMinutes), overflow: moved(rows.overflow), visitors: moved(rows.visitors) };
  const checkpoints: SpeedCheckpoint[] = [...highest].map(([partition, version]) => {
    const before = existing.get(partition);
    return { partition, nextOffset: before?.nextOffset ?? 0, replayFrom: before?.replayFrom ?? 0, maxEventTime: before?.maxEventTime ?? 0, version };
  });
  await store.writeSpeedFlush(written, checkpoints);
}
