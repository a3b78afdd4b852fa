/** How big each benchmark is: the full run (the sizes) and the smoke run (--quick). */

export interface Sizes {
  /** Speed ingest: events in the pre-filled topic. */
  speedEvents: number;
  /** Events of the small topic each speed/batch worker runs through first (JIT warm-up). */
  warmEvents: number;
  /** Freshness: production rate (events/s), probes per repetition, probe spacing, warm-up. */
  freshRate: number;
  freshProbes: number;
  probeEveryMs: number;
  freshWarmupS: number;
  /** Batch recompute: events retained in the log. */
  batchEvents: number;
  /** Batch build: raw rows per deduplication pass (ViewStore.batchEventsPerPass); undefined: the store's default. */
  batchEventsPerPass?: number;
  /** Batch raw copy: partitions copied at once (BatchRunOptions.copyConcurrency); undefined: runBatch's default. */
  batchCopyConcurrency?: number;
  /** Batch warm-up run (also the small-N point of the bounded-memory check). */
  batchWarmEvents: number;
  /** Serving: batch data of pages × days, live traffic rate, load settings. */
  servingPages: number;
  servingDays: number;
  liveRate: number;
  loadS: number;
  loadWarmupS: number;
  connections: number;
  fixedRate: number;
  /** Serving stats (aggregate + breakdown, period=30d): batch data of pages × days on one site. */
  statsPages: number;
  statsDays: number;
  /** Serving memory: batch data of pages × days, every page's day series read once. */
  servingMemoryPages: number;
  servingMemoryDays: number;
  /** Collector: events per POST, connections. */
  collectorBatch: number;
  collectorConnections: number;
  /** Memory: distinct pages per run, and the least events per run. */
  memoryPages: number[];
  memoryMinEvents: number;
  /** Memory with the dimension views: distinct values of each visit property (issue #16). */
  memoryDimensionValues: number;
  /** Memory of the sessions: active visitors of the session state (issue #17). */
  memorySessionVisitors: number;
  /** Idle cost of npm start: generator rate (events/s), warm-up and measured window (s). */
  idleRate: number;
  idleWarmupS: number;
  idleSampleS: number;
  /** Embedded mode. */
  embeddedEvents: number;
  embeddedPages: number;
  embeddedDays: number;
}

export const FULL: Sizes = {
  speedEvents: 2_000_000,
  warmEvents: 100_000,
  freshRate: 20_000,
  freshProbes: 100,
  probeEveryMs: 250,
  freshWarmupS: 10,
  batchEvents: 10_000_000,
  // 100,000 per partition: two full 50,000-row insert batches, so the warm-up peak is a steady state.
  batchWarmEvents: 400_000,
  servingPages: 1000,
  servingDays: 30,
  liveRate: 1000,
  loadS: 10,
  loadWarmupS: 3,
  connections: 10,
  fixedRate: 500,
  statsPages: 100_000,
  statsDays: 30,
  servingMemoryPages: 10_000,
  servingMemoryDays: 400,
  collectorBatch: 500,
  collectorConnections: 4,
  memoryPages: [1000, 100_000, 1_000_000],
  memoryMinEvents: 200_000,
  memoryDimensionValues: 10_000,
  memorySessionVisitors: 1_000_000,
  idleRate: 20,
  idleWarmupS: 10,
  idleSampleS: 30,
  embeddedEvents: 1_000_000,
  embeddedPages: 1000,
  embeddedDays: 30,
};

export const QUICK: Sizes = {
  speedEvents: 200_000,
  warmEvents: 20_000,
  freshRate: 5000,
  freshProbes: 20,
  probeEveryMs: 250,
  freshWarmupS: 3,
  batchEvents: 200_000,
  batchWarmEvents: 20_000,
  servingPages: 100,
  servingDays: 3,
  liveRate: 200,
  loadS: 3,
  loadWarmupS: 1,
  connections: 10,
  fixedRate: 500,
  statsPages: 1000,
  statsDays: 30,
  servingMemoryPages: 500,
  servingMemoryDays: 60,
  collectorBatch: 500,
  collectorConnections: 4,
  memoryPages: [1000, 100_000],
  memoryMinEvents: 100_000,
  memoryDimensionValues: 1000,
  memorySessionVisitors: 100_000,
  idleRate: 20,
  idleWarmupS: 3,
  idleSampleS: 10,
  embeddedEvents: 100_000,
  embeddedPages: 100,
  embeddedDays: 3,
};
