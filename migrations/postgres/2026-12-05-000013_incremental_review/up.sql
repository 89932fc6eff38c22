-- The on-demand peer check is incremental: every witnessed leaf below
-- `checked_through` was compared with the other node's log at least once
-- (the watch keeps re-checking all of them, pass after pass), and every
-- receipt recorded at or before this node's audit index `receipts_after`
-- was proven logged in the other node's cosigned log.
ALTER TABLE audit_watch ADD COLUMN checked_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_watch ADD COLUMN receipts_after BIGINT NOT NULL DEFAULT -1;
