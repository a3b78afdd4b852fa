import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedEventLog, type EventLog } from '../../shared/adapters/event-log/index.ts';
import { describeEventLogContract } from './event-log.contract.ts';

describeEventLogContract('EmbeddedEventLog', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pv-log-'));
  const log = new EmbeddedEventLog({ dataDir, topic: `pv-${randomUUID()}` });
  const opened: EventLog[] = [log];
  return {
    log,
    openTopic: async (topic) => {
      const other = new EmbeddedEventLog({ dataDir, topic });
      opened.push(other);
      return other;
    },
    cleanup: async () => {
      await Promise.all(opened.map((l) => l.close()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
