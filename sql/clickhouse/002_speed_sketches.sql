-- Speed-layer sketches (ClickHouse 18.16 and current). Every speed table is versioned like
-- speed_page_minute (readers take the highest version per key; a checkpoint names the version
-- its rows reflect) and partitioned by UTC day (retention drops whole days).

-- Page views beyond the exact-key budget: per partition, site and minute, the total of those
-- events, a Count-Min sketch of them by page (cells row-major, depth x width) and a
-- Space-Saving summary of the top pages among them (JSON [[page, count, error], ...]).
CREATE TABLE IF NOT EXISTS speed_overflow_minute (
  log_partition Int32,
  site String,
  bucket Int64,
  total UInt64,
  cms_width UInt32,
  cms_depth UInt32,
  cms Array(UInt64),
  top_pages String,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
  PARTITION BY intDiv(bucket, 86400000)
  ORDER BY (site, bucket, log_partition);

-- Unique-visitor HyperLogLogs (base64 of shared/sketches serialization): per page and hour
-- (page_id = '' for the whole site), and per site and minute (grain = 'minute').
CREATE TABLE IF NOT EXISTS speed_visitors (
  log_partition Int32,
  site String,
  page_id String,
  grain String,
  bucket Int64,
  hll String,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
  PARTITION BY intDiv(bucket, 86400000)
  ORDER BY (site, grain, page_id, bucket, log_partition);

-- Boundary-aware retention: speed buckets before dropped_before were deleted.
CREATE TABLE IF NOT EXISTS speed_retention (
  dropped_before Int64,
  recorded_at Int64
) ENGINE = MergeTree() ORDER BY recorded_at;
