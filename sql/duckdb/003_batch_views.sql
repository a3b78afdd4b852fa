-- Batch views beyond page-hours (DuckDB). Same tables and semantics as sql/clickhouse/003_batch_views.sql.

CREATE TABLE IF NOT EXISTS batch_page_day (
  batch_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  views BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_site_hour (
  batch_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  views BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_site_day (
  batch_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  views BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_visitors_day (
  batch_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  visitor_id VARCHAR NOT NULL,
  hll_index INTEGER NOT NULL,
  hll_rank INTEGER NOT NULL
);
