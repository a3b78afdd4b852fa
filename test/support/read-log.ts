/** Every record a log's topic holds now, partition by partition, in offset order. */
import type { EventLog, LogRecord } from '../../shared/adapters/event-log/index.ts';

export async function readAllRecords(log: EventLog): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  const [starts, ends] = await Promise.all([log.startOffsets(), log.endOffsets()]);
  for (const [partition, end] of ends) {
    await log.readRange({
      partition,
      fromOffset: starts.get(partition) ?? 0,
      toOffset: end,
      onRecords: async (records) => {
        out.push(...records);
      },
    });
  }
  return out;
}
