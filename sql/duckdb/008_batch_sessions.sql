-- Sessions in the batch build (DuckDB). Same tables and semantics as sql/clickhouse/008_batch_sessions.sql.
CREATE TABLE IF NOT EXISTS batch_session_events (
  site VARCHAR NOT NULL,
  visitor_id VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  event_time BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_pass_sessions (
  site VARCHAR NOT NULL,
  session_start BIGINT NOT NULL,
  session_end BIGINT NOT NULL,
  pageviews BIGINT NOT NULL,
  entry_page VARCHAR NOT NULL,
  exit_page VARCHAR NOT NULL
);

-- Session sums by the hour (and day) of the session start, one version per run (batch_id) like
-- batch_page_hour. Site totals have page_id ''; entry and exit pages are kept under the sites
-- `<site>|visit:entry_page` and `<site>|visit:exit_page`, the page in page_id (as dimension views).
CREATE TABLE IF NOT EXISTS batch_session_hour (
  batch_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  visits BIGINT NOT NULL,
  bounces BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  pageviews BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS batch_session_day (
  batch_id VARCHAR NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  bucket BIGINT NOT NULL,
  visits BIGINT NOT NULL,
  bounces BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  pageviews BIGINT NOT NULL
);
