-- Speed-layer sketches (DuckDB). Same tables and semantics as sql/clickhouse/002_speed_sketches.sql.

CREATE TABLE IF NOT EXISTS speed_overflow_minute (
  log_partition INTEGER NOT NULL,
  site VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  total BIGINT NOT NULL,
  cms_width INTEGER NOT NULL,
  cms_depth INTEGER NOT NULL,
  cms BIGINT[] NOT NULL,
  top_pages VARCHAR NOT NULL,
  version BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS speed_visitors (
  log_partition INTEGER NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  grain VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  hll VARCHAR NOT NULL,
  version BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS speed_retention (
  dropped_before BIGINT NOT NULL,
  recorded_at BIGINT NOT NULL
);
