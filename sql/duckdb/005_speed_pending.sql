-- Late events a speed checkpoint has consumed but not yet merged into their stored rows
-- (JSON array of [site, page_id, bucket, visitor hash hi, lo]; '' = none).
ALTER TABLE speed_checkpoints ADD COLUMN pending VARCHAR DEFAULT '';
