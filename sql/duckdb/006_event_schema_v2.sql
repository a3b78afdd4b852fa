-- Event schema v2 (shared/core/page-view.ts): the visit fields the collector derives, in the raw
-- copy. Rows copied before this migration, and v1 records, read as schema_version 1 with every
-- visit field empty (= absent). Same columns as sql/clickhouse/006_event_schema_v2.sql (DuckDB
-- cannot add a NOT NULL column; the writers always set them).
ALTER TABLE raw_events ADD COLUMN schema_version INTEGER DEFAULT 1;
ALTER TABLE raw_events ADD COLUMN source VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN utm_medium VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN utm_source VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN utm_campaign VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN utm_content VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN utm_term VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN device VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN browser VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN browser_version VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN os VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN os_version VARCHAR DEFAULT '';
ALTER TABLE raw_events ADD COLUMN country VARCHAR DEFAULT '';

-- The collector's daily salts for cookieless visitor ids (collector/visitor-salts.ts), deleted
-- once their UTC day is over. Same semantics as on ClickHouse.
CREATE TABLE IF NOT EXISTS visitor_salts (
  day BIGINT NOT NULL,
  salt VARCHAR NOT NULL
);
