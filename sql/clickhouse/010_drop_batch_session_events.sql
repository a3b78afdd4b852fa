-- Batch builds read every deduplicated event from batch_pass_events, sessions included, in
-- visitor passes (issue #19): the separate staging copy for sessionization is gone.
DROP TABLE IF EXISTS batch_session_events;
