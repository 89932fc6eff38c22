ALTER TABLE audit_log DROP COLUMN occurrences;
ALTER TABLE audit_log DROP COLUMN source;
