DROP TABLE reconciliation_cursor;
DROP TABLE reconciliation;
ALTER TABLE audit_watch DROP COLUMN receipts_after;
ALTER TABLE audit_watch DROP COLUMN checked_through;
