-- The batch build stages every deduplicated event once, in batch_pass_events, and builds the
-- visitors and sessions from it in passes over visitors (issue #19,
-- shared/adapters/view-store/sql-batch-views.ts). Each event carries its visitor pass
-- (visitor_pass), the first column of the table's order, so the statements of a visitor pass
-- read that pass's granules only, not the whole table.
-- The separate staging copy for sessions (batch_session_events) is gone. Both are staging tables,
-- empty between builds, so they are dropped and created again.
DROP TABLE IF EXISTS batch_session_events;
DROP TABLE IF EXISTS batch_pass_events;
CREATE TABLE IF NOT EXISTS batch_pass_events (
  visitor_pass UInt32,
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
) ENGINE = MergeTree() ORDER BY (visitor_pass, site, visitor_id, event_time);
