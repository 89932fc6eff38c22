-- Leases for the jobs that must run once across a node's replicas (the
-- dispatcher, the timers). `term` grows at every change of holder (it
-- starts from the holder's clock in milliseconds, so it keeps growing
-- after a restore from an older backup): the dispatcher sends it with
-- every batch as its fencing token.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    term BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The highest fencing token the other node's dispatcher sent with a batch
-- taken in (incoming row only): a batch with a lower one comes from a
-- replica that lost its lease, and is refused.
ALTER TABLE peer_channels ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
