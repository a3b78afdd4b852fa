/**
 * Prometheus metrics of every layer, in one registry per process, served at /metrics.
 * Layers take the `PlatformMetrics` object; nothing registers into prom-client's global registry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How often the event-loop lag metrics take a sample (ms). */
export const EVENT_LOOP_SAMPLE_MS = 100;

export class PlatformMetrics {
  readonly registry = new Registry();

  readonly speedEvents = new Counter({
    name: 'pv_speed_events_total',
    help:
      'Log records the speed layer consumed, by outcome: counted (in the views, late ones included), before_boundary ' +
      "(a minute before the published batch boundary: the batch layer's), dead_letter, replayed.",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly speedLateMerged = new Counter({
    name: 'pv_speed_late_merged_total',
    help: "Late-lane entries (what late events added to a key whose row is not in memory) merged into the partition's stored speed rows.",
    registers: [this.registry],
  });
  readonly speedLag = new Gauge({
    name: 'pv_speed_consumer_lag',
    help: 'Records between the speed layer and the end of each partition.',
    labelNames: ['partition'] as const,
    registers: [this.registry],
  });
  readonly speedDeadLetters = new Counter({
    name: 'pv_speed_dead_letters_total',
    help: 'Records the speed layer sent to the dead-letter topic, by reason (invalid, future, store_refused).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly speedStateBytes = new Gauge({
    name: 'pv_speed_state_bytes',
    help: 'Estimated bytes of the speed layer state (counters, sketches and their maps), against SPEED_MEMORY_BUDGET_MB.',
    registers: [this.registry],
  });
  readonly speedRetainedFrom = new Gauge({
    name: 'pv_speed_retained_from_seconds',
    help: 'Speed buckets before this time (unix seconds) have been dropped after a batch run covered them.',
    registers: [this.registry],
  });
  readonly speedFlushDuration = new Histogram({
    name: 'pv_speed_flush_duration_seconds',
    help: 'Time a speed flush takes (snapshot, write, checkpoint, commit). Longer than the flush interval delays freshness.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly speedRowsWritten = new Counter({
    name: 'pv_speed_rows_written_total',
    help: 'Speed rows written by flushes, by kind (page_minute, overflow, visitors).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly speedSketchBytesWritten = new Counter({
    name: 'pv_speed_sketch_bytes_written_total',
    help: 'Bytes of visitor sketches (base64) written by speed flushes: the bulk of a flush once sketches are dense.',
    registers: [this.registry],
  });
  readonly speedCheckpointAge = new Gauge({
    name: 'pv_speed_checkpoint_timestamp_seconds',
    help: 'Unix time of the last durable speed-layer checkpoint.',
    registers: [this.registry],
  });
  readonly collectorEvents = new Counter({
    name: 'pv_collector_events_total',
    help: 'Events received by POST /api/v1/events and POST /api/event, by outcome (accepted, rejected, unavailable).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly collectorDropped = new Counter({
    name: 'pv_collector_dropped_total',
    help:
      'Events or requests the collector dropped before the log, by reason: bot (a bot or crawler user agent), ' +
      'ignored_event (a Plausible event kind not stored, e.g. engagement), rate_limited (requests over INGEST_RATE_LIMIT), ' +
      'origin (an origin INGEST_ALLOWED_ORIGINS does not allow).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly batchRuns = new Counter({
    name: 'pv_batch_runs_total',
    help: 'Batch runs by final status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly batchInvalidRecords = new Counter({
    name: 'pv_batch_invalid_records_total',
    help: 'Log records a batch run put in the invalid-record ledger instead of the raw copy: invalid events, and events the view store refused.',
    registers: [this.registry],
  });
  readonly batchScheduledTicks = new Counter({
    name: 'pv_batch_scheduled_ticks_total',
    help: 'Times the batch cron fired, by outcome (ran: this instance ran the batch; skipped: another instance holds the batch lease).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly batchLastSuccess = new Gauge({
    name: 'pv_batch_last_success_cutoff_seconds',
    help: 'Cutoff (unix time) of the latest successful batch run: the batch boundary.',
    registers: [this.registry],
  });
  readonly batchDivergence = new Gauge({
    name: 'pv_batch_speed_divergence_ratio',
    help: '(speed - batch) / batch over the day before the latest batch cutoff, per site and metric.',
    labelNames: ['site', 'metric'] as const,
    registers: [this.registry],
  });
  readonly servingCacheBytes = new Gauge({
    name: 'pv_serving_cache_bytes',
    help: 'Estimated bytes of the batch reads the serving layer keeps in memory (at most SERVING_CACHE_BUDGET_MB).',
    registers: [this.registry],
  });
  readonly servingCacheEntries = new Gauge({
    name: 'pv_serving_cache_entries',
    help: 'Batch reads the serving layer keeps in memory (pending reads included).',
    registers: [this.registry],
  });
  readonly servingCacheEvictions = new Counter({
    name: 'pv_serving_cache_evictions_total',
    help: 'Batch reads dropped from the serving cache, by reason (budget: least recently used, to stay within the budget; too_large: a read larger than the whole budget, answered but not kept).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly servingMemoryBytes = new Gauge({
    name: 'pv_serving_memory_bytes',
    help: 'Estimated bytes of the views the serving process holds, by part (speed: the speed views; batch: the resident batch blocks). Their sum stays within SERVING_MEMORY_BUDGET_MB unless the speed views alone exceed it.',
    labelNames: ['part'] as const,
    registers: [this.registry],
  });
  readonly servingViewsAge = new Gauge({
    name: 'pv_serving_views_refreshed_timestamp_seconds',
    help: 'Unix time of the serving process\'s last successful refresh of its views (boundary, speed checkpoints, retention).',
    registers: [this.registry],
  });
  readonly servingRefreshFailures = new Counter({
    name: 'pv_serving_refresh_failures_total',
    help: 'Refreshes of the serving process\'s views that failed (the view store did not answer); reads go to the store once the views are older than SERVING_MAX_STALENESS_MS.',
    registers: [this.registry],
  });
  readonly servingFallbackReads = new Counter({
    name: 'pv_serving_fallback_reads_total',
    help: 'Reads the serving process answered from the view store instead of memory, by reason (behind: its views are stale or not caught up; outside: outside what it holds, e.g. hours before the hour window or over the budget).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly servingRequestTimeouts = new Counter({
    name: 'pv_serving_request_timeouts_total',
    help: 'Read requests answered 503 because they ran longer than SERVING_REQUEST_TIMEOUT_MS.',
    registers: [this.registry],
  });
  readonly httpRequests = new Histogram({
    name: 'pv_http_request_duration_seconds',
    help: 'HTTP request duration by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    // Event-loop lag is sampled every 100 ms (prom-client's default, 10 ms, wakes an idle process
    // 100 times a second); each sample still measures the lag to the nanosecond.
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
}
