-- The on-demand peer check is incremental: every witnessed leaf below
-- `checked_through` was compared with the other node's log at least once
-- (the watch keeps re-checking all of them, pass after pass), and every
-- receipt recorded at or before this node's audit index `receipts_after`
-- was proven logged in the other node's cosigned log.
ALTER TABLE audit_watch ADD COLUMN checked_through BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_watch ADD COLUMN receipts_after BIGINT NOT NULL DEFAULT -1;

-- Reconciliation, kept up to date incrementally: what both nodes' logs say
-- of each message (folded from their exchange entries), judged, so that a
-- period's report reads a page of rows instead of both logs whole.
CREATE TABLE reconciliation (
    message_id TEXT PRIMARY KEY NOT NULL,
    -- When the sender logged it as sent (else when the receiver logged it).
    first_seen_at TIMESTAMP,
    -- NULL while the message has no row (only a receipt or a refusal seen).
    status TEXT,
    detail TEXT,
    -- The folded facts (JSON: the entries of both logs about the message).
    facts TEXT NOT NULL
);
CREATE INDEX reconciliation_period ON reconciliation(first_seen_at, message_id);
CREATE INDEX reconciliation_status ON reconciliation(status);

-- How far each log was folded in (the last audit index of each), and when
-- each was last read to its end.
CREATE TABLE reconciliation_cursor (
    id BIGINT PRIMARY KEY NOT NULL,
    own_after BIGINT NOT NULL,
    own_read_at TIMESTAMP,
    peer_after BIGINT NOT NULL,
    peer_read_at TIMESTAMP
);
INSERT INTO reconciliation_cursor (id, own_after, peer_after) VALUES (1, -1, -1);
