-- Batch views beyond page-hours (ClickHouse 18.16 and current). Like batch_page_hour, one
-- version per run (batch_id), only the published version is read; old versions are dropped.

CREATE TABLE IF NOT EXISTS batch_page_day (
  batch_id String,
  site String,
  page_id String,
  bucket Int64,
  views UInt64
) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, page_id, bucket);

-- Site totals: page views of all pages of a site, per hour and per day.
CREATE TABLE IF NOT EXISTS batch_site_hour (
  batch_id String,
  site String,
  bucket Int64,
  views UInt64
) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, bucket);

CREATE TABLE IF NOT EXISTS batch_site_day (
  batch_id String,
  site String,
  bucket Int64,
  views UInt64
) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, bucket);

-- Exact unique visitors: the distinct visitors of each (site, page, day), and of each
-- (site, day) with page_id = ''. Uniques over any day range are a count of distinct
-- visitor_id over its rows; the HyperLogLog register (index, rank) of each visitor at the
-- batch precision lets a range that straddles the boundary be unioned with speed sketches.
CREATE TABLE IF NOT EXISTS batch_visitors_day (
  batch_id String,
  site String,
  page_id String,
  bucket Int64,
  visitor_id String,
  hll_index UInt16,
  hll_rank UInt8
) ENGINE = MergeTree() PARTITION BY batch_id ORDER BY (site, page_id, bucket, visitor_id);
