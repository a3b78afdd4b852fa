-- Initial schema (DuckDB, the embedded default). Same tables and semantics as
-- sql/clickhouse/001_init.sql. All times are BIGINT epoch milliseconds, UTC.

CREATE TABLE IF NOT EXISTS raw_events (
  log_partition INTEGER NOT NULL,
  log_offset BIGINT NOT NULL,
  event_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  visitor_id VARCHAR NOT NULL,
  visitor_hll_index INTEGER NOT NULL,
  visitor_hll_rank INTEGER NOT NULL,
  event_time BIGINT NOT NULL,
  referrer VARCHAR NOT NULL,
  user_agent VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS speed_page_minute (
  log_partition INTEGER NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  views BIGINT NOT NULL,
  version BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS raw_invalid (
  log_partition INTEGER NOT NULL,
  log_offset BIGINT NOT NULL,
  reason VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS speed_checkpoints (
  log_partition INTEGER NOT NULL,
  next_offset BIGINT NOT NULL,
  max_event_time BIGINT NOT NULL,
  version BIGINT NOT NULL,
  written_at BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_page_hour (
  batch_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  views BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_runs (
  batch_id VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  started_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL,
  cutoff_time BIGINT NOT NULL,
  end_offsets VARCHAR NOT NULL,
  rows_read BIGINT NOT NULL,
  rows_invalid BIGINT NOT NULL,
  rows_duplicate BIGINT NOT NULL,
  rows_counted BIGINT NOT NULL,
  error VARCHAR NOT NULL,
  recorded_at BIGINT NOT NULL
);
