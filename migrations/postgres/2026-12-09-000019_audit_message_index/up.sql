-- A message's entries by kind, with their times, read from the index
-- alone: the statistics look up when each receipted message was queued,
-- and on a log of millions of entries a visit to each entry's row costs
-- a page read of its own.
DROP INDEX audit_log_message;
CREATE INDEX audit_log_message ON audit_log(message_id, kind, at);
