-- Speed-layer sessions (DuckDB). Same tables and semantics as sql/clickhouse/009_speed_sessions.sql.
CREATE TABLE IF NOT EXISTS speed_session_minute (
  log_partition INTEGER NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  visits BIGINT NOT NULL,
  bounces BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  pageviews BIGINT NOT NULL,
  version BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS speed_open_sessions (
  log_partition INTEGER NOT NULL,
  site VARCHAR NOT NULL,
  visitor_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  session_start BIGINT NOT NULL,
  pageviews BIGINT NOT NULL,
  entry_page VARCHAR NOT NULL,
  exit_page VARCHAR NOT NULL,
  last_event VARCHAR NOT NULL,
  removed INTEGER NOT NULL,
  version BIGINT NOT NULL
);
