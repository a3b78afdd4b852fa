/** Every record a log's topic holds now, partition by partition, in offset order. */
import { EmbeddedEventLog, type EventLog, type LogRecord } from '../../shared/adapters/event-log/index.ts';

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

/** Every record of a topic of the embedded log in `dataDir` (e.g. its dead-letter topic), read by a log opened for the purpose. */
export async function readEmbeddedTopic(dataDir: string, topic: string): Promise<LogRecord[]> {
  const log = new EmbeddedEventLog({ dataDir, topic });
  try {
    await log.ensureTopic();
    return await readAllRecords(log);
  } finally {
    await log.close();
  }
}
