-- The batch build stages every deduplicated event once, in batch_pass_events, and builds the
-- visitors and sessions from it in passes over visitors (issue #19,
-- shared/adapters/view-store/sql-batch-views.ts). Each event carries its visitor pass
-- (visitor_pass), which the statements of a visitor pass filter on (an integer column scan; the
-- ClickHouse table is ordered by it, so there a pass reads its own granules only).
-- The separate staging copy for sessions (batch_session_events) is gone. Both are staging tables,
-- empty between builds, so they are dropped and created again.
DROP TABLE IF EXISTS batch_session_events;
DROP TABLE IF EXISTS batch_pass_events;
CREATE TABLE IF NOT EXISTS batch_pass_events (
  visitor_pass INTEGER NOT NULL,
  site VARCHAR NOT NULL,
  page_id VARCHAR NOT NULL,
  visitor_id VARCHAR NOT NULL,
  hll_index INTEGER NOT NULL,
  hll_rank INTEGER NOT NULL,
  event_time BIGINT NOT NULL,
  copies BIGINT NOT NULL,
  value_source VARCHAR NOT NULL,
  value_referrer VARCHAR NOT NULL,
  value_utm_medium VARCHAR NOT NULL,
  value_utm_source VARCHAR NOT NULL,
  value_utm_campaign VARCHAR NOT NULL,
  value_utm_content VARCHAR NOT NULL,
  value_utm_term VARCHAR NOT NULL,
  value_device VARCHAR NOT NULL,
  value_browser VARCHAR NOT NULL,
  value_browser_version VARCHAR NOT NULL,
  value_os VARCHAR NOT NULL,
  value_os_version VARCHAR NOT NULL,
  value_country VARCHAR NOT NULL
);
