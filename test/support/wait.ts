import type { SpeedViewReader } from '../../shared/adapters/view-store/index.ts';
/** Waiting on a condition the test observes, with a deadline: never a bare sleep. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, pollMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Whether the speed layer's checkpoints cover every record below `end` (a total over partitions): then its views count them. */
export async function speedCountedThrough(store: Pick<SpeedViewReader, 'speedCheckpoints'>, end: number): Promise<boolean> {
  const checkpoints = [...(await store.speedCheckpoints()).values()];
  return checkpoints.reduce((sum, c) => sum + c.nextOffset, 0) === end;
}
