-- Event schema v2 (shared/core/page-view.ts): the visit fields the collector derives, in the raw
-- copy. Rows copied before this migration, and v1 records, read as schema_version 1 with every
-- visit field empty (= absent).
ALTER TABLE raw_events
  ADD COLUMN schema_version UInt8 DEFAULT 1,
  ADD COLUMN source String DEFAULT '',
  ADD COLUMN utm_medium String DEFAULT '',
  ADD COLUMN utm_source String DEFAULT '',
  ADD COLUMN utm_campaign String DEFAULT '',
  ADD COLUMN utm_content String DEFAULT '',
  ADD COLUMN utm_term String DEFAULT '',
  ADD COLUMN device String DEFAULT '',
  ADD COLUMN browser String DEFAULT '',
  ADD COLUMN browser_version String DEFAULT '',
  ADD COLUMN os String DEFAULT '',
  ADD COLUMN os_version String DEFAULT '',
  ADD COLUMN country String DEFAULT '';

-- The collector's daily salts for cookieless visitor ids (collector/visitor-salts.ts). One
-- partition per UTC day (days since the epoch), dropped once the day is over: a dropped salt
-- cannot link visitors across days. Several collectors may each insert a candidate for a day;
-- all of them use the least one.
CREATE TABLE IF NOT EXISTS visitor_salts (
  day Int64,
  salt String
) ENGINE = MergeTree() PARTITION BY day ORDER BY (day, salt);
