-- Where a restart consumes from: the visitor sketches of pages are written less often than the
-- rest, so records from here to next_offset are replayed for them (-1: same as next_offset).
ALTER TABLE speed_checkpoints ADD COLUMN replay_from Int64 DEFAULT -1;
