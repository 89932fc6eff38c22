-- Refused connections on the peer port are aggregated: one audit entry per
-- reason and source address per interval, with how many there were (the
-- last certificate presented is the actor, its SHA-256 the digest).
ALTER TABLE audit_log ADD COLUMN source TEXT;
ALTER TABLE audit_log ADD COLUMN occurrences BIGINT;
