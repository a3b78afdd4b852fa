-- The batch build's deduplicated events of one pass (shared/adapters/view-store/sql-batch-views.ts):
-- deduplicated once, then every view of the pass reads them here, each property's value as it is
-- shown (value_<property>). Emptied at the start of each pass and after the build; one build runs
-- at a time (the batch lease).
CREATE TABLE IF NOT EXISTS batch_pass_events (
  site String,
  page_id String,
  visitor_id String,
  hll_index UInt16,
  hll_rank UInt8,
  event_time Int64,
  copies UInt64,
  value_source String,
  value_referrer String,
  value_utm_medium String,
  value_utm_source String,
  value_utm_campaign String,
  value_utm_content String,
  value_utm_term String,
  value_device String,
  value_browser String,
  value_browser_version String,
  value_os String,
  value_os_version String,
  value_country String
) ENGINE = MergeTree() ORDER BY (site, event_time);
