import net from 'node:net';

export interface InfraStatus {
  /** Reachable brokers, or null when Kafka is not reachable. */
  kafkaBrokers: string[] | null;
  kafkaTried: string;
  /** Reachable ClickHouse HTTP URL, or null. */
  clickhouseUrl: string | null;
  clickhouseTried: string;
}

/** Defaults are the addresses scripts/infra.sh listens on. */
export const DEFAULT_TEST_KAFKA_BROKERS = '127.0.0.1:9092';
export const DEFAULT_TEST_CLICKHOUSE_URL = 'http://127.0.0.1:8123';

function tcpReachable(hostPort: string, timeoutMs: number): Promise<boolean> {
  const idx = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, idx);
  const port = Number(hostPort.slice(idx + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function clickhousePing(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function probeInfra(env: NodeJS.ProcessEnv): Promise<InfraStatus> {
  const kafkaTried = env['KAFKA_BROKERS'] || DEFAULT_TEST_KAFKA_BROKERS;
  const clickhouseTried = env['CLICKHOUSE_URL'] || DEFAULT_TEST_CLICKHOUSE_URL;
  const brokers = kafkaTried.split(',').map((b) => b.trim()).filter(Boolean);
  const [kafkaOk, chOk] = await Promise.all([
    tcpReachable(brokers[0] ?? '', 2000),
    clickhousePing(clickhouseTried, 2000),
  ]);
  return {
    kafkaBrokers: kafkaOk ? brokers : null,
    kafkaTried,
    clickhouseUrl: chOk ? clickhouseTried : null,
    clickhouseTried,
  };
}
