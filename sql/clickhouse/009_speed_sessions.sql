-- Speed-layer sessions (shared/core/sessions.ts; speed-layer/session-state.ts), versioned like
-- speed_page_minute and partitioned by UTC day like every speed table.

-- Session sums by the minute of the session start: visits, bounces, total duration (ms) and page
-- views of the sessions that start in the minute, as the partition holds them at a version (a
-- session still open is counted as it stands). Site totals have page_id ''; entry and exit pages
-- are kept under the sites `<site>|visit:entry_page` and `<site>|visit:exit_page`.
CREATE TABLE IF NOT EXISTS speed_session_minute (
  log_partition Int32,
  site String,
  page_id String,
  bucket Int64,
  visits Int64,
  bounces Int64,
  duration_ms Int64,
  pageviews Int64,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
  PARTITION BY intDiv(bucket, 86400000)
  ORDER BY (site, page_id, bucket, log_partition);

-- The open sessions a partition holds at a version (one per visitor: its latest), so a restart
-- continues them: neither a lost nor a doubled visit. bucket is the session's last event time;
-- removed = 1 when the session was evicted (the readers' latest row of the visitor says so).
CREATE TABLE IF NOT EXISTS speed_open_sessions (
  log_partition Int32,
  site String,
  visitor_id String,
  bucket Int64,
  session_start Int64,
  pageviews Int64,
  entry_page String,
  exit_page String,
  last_event String,
  removed UInt8,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
  PARTITION BY intDiv(bucket, 86400000)
  ORDER BY (log_partition, site, visitor_id);
