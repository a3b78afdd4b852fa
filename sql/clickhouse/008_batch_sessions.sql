-- Sessions in the batch build (shared/core/sessions.ts; shared/adapters/view-store/sql-batch-views.ts).
--
-- batch_session_events: every deduplicated event of the raw copy (also those after the cutoff
-- time: a session that starts before the cutoff is counted whole), filled pass by pass, then
-- sessionized in passes by visitor. batch_pass_sessions: the sessions of one such pass. Both are
-- staging tables, emptied before and after a build; one build runs at a time (the batch lease).
CREATE TABLE IF NOT EXISTS batch_session_events (
  site String,
  visitor_id String,
  page_id String,
  event_time Int64
) ENGINE = MergeTree() ORDER BY (site, visitor_id, event_time);

CREATE TABLE IF NOT EXISTS batch_pass_sessions (
  site String,
  session_start Int64,
  session_end Int64,
  pageviews UInt64,
  entry_page String,
  exit_page String
) ENGINE = MergeTree() ORDER BY (site, session_start);

-- Session sums by the hour (and day) of the session start, one version per run (batch_id) like
-- batch_page_hour. Site totals have page_id ''; entry and exit pages are kept under the sites
-- `<site>|visit:entry_page` and `<site>|visit:exit_page`, the page in page_id (as dimension views).
CREATE TABLE IF NOT EXISTS batch_session_hour (
  batch_id String,
  site String,
  page_id String,
  bucket Int64,
  visits UInt64,
  bounces UInt64,
  duration_ms UInt64,
  pageviews UInt64
) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, page_id, bucket);

CREATE TABLE IF NOT EXISTS batch_session_day (
  batch_id String,
  site String,
  page_id String,
  bucket Int64,
  visits UInt64,
  bounces UInt64,
  duration_ms UInt64,
  pageviews UInt64
) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, page_id, bucket);
