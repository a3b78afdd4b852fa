-- The batch build's deduplicated events of one pass (shared/adapters/view-store/sql-batch-views.ts):
-- deduplicated once, then every view of the pass reads them here, each property's value as it is
-- shown (value_<property>). Emptied at the start of each pass and after the build; one build runs
-- at a time (the batch lease).
CREATE TABLE IF NOT EXISTS batch_pass_events (
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
