-- Initial schema (ClickHouse 18.16 and current). All times are Int64 epoch milliseconds, UTC;
-- bucket starts follow shared/time-buckets.ts (integer division of the epoch).

-- The batch layer's deduplicated-by-position copy of the log (the master dataset).
CREATE TABLE IF NOT EXISTS raw_events (
  log_partition Int32,
  log_offset Int64,
  event_id String,
  site String,
  page_id String,
  visitor_id String,
  visitor_hll_index UInt16,
  visitor_hll_rank UInt8,
  event_time Int64,
  referrer String,
  user_agent String
) ENGINE = ReplacingMergeTree() ORDER BY (log_partition, log_offset);

-- The speed layer's per-partition minute counters; a higher version replaces a lower one.
CREATE TABLE IF NOT EXISTS speed_page_minute (
  log_partition Int32,
  site String,
  page_id String,
  bucket Int64,
  views UInt64,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
  PARTITION BY intDiv(bucket, 86400000)
  ORDER BY (site, page_id, bucket, log_partition);

-- Records of the log the raw copy could not use, with the reason (excluded from views).
CREATE TABLE IF NOT EXISTS raw_invalid (
  log_partition Int32,
  log_offset Int64,
  reason String
) ENGINE = ReplacingMergeTree() ORDER BY (log_partition, log_offset);

-- The speed layer's checkpoints: per partition, the next offset its rows at `version` reflect.
CREATE TABLE IF NOT EXISTS speed_checkpoints (
  log_partition Int32,
  next_offset Int64,
  max_event_time Int64,
  version UInt64,
  written_at Int64
) ENGINE = ReplacingMergeTree(version) ORDER BY log_partition;

-- Batch views, one version per run (batch_id); only the published version is read.
CREATE TABLE IF NOT EXISTS batch_page_hour (
  batch_id String,
  site String,
  page_id String,
  bucket Int64,
  views UInt64
) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, page_id, bucket);

-- Batch run records, append-only: one row per state change. status = 'success' publishes.
CREATE TABLE IF NOT EXISTS batch_runs (
  batch_id String,
  status String,
  started_at Int64,
  finished_at Int64,
  cutoff_time Int64,
  end_offsets String,
  rows_read UInt64,
  rows_invalid UInt64,
  rows_duplicate UInt64,
  rows_counted UInt64,
  error String,
  recorded_at Int64
) ENGINE = MergeTree() ORDER BY (batch_id, recorded_at);
