-- Watching the other node's log: the peer check runs incrementally from
-- `next_index` (wrapping to 0 after the last witnessed leaf, so the whole
-- log is re-checked pass after pass at a bounded cost per round). A
-- mismatch suspends cosigning the other node's checkpoints until an
-- administrator acknowledges it.
CREATE TABLE audit_watch (
    id BIGINT PRIMARY KEY NOT NULL,
    next_index BIGINT NOT NULL,
    passes BIGINT NOT NULL,
    last_checked_at TIMESTAMP,
    suspended_at TIMESTAMP,
    suspended_index BIGINT,
    suspended_problem TEXT,
    suspended_peer_leaf TEXT
);
INSERT INTO audit_watch (id, next_index, passes) VALUES (1, 0, 0);

-- Mismatches an administrator acknowledged: the index and the leaf hash the
-- other node showed then (`missing` when it had no entry). A later check
-- passes over that index only while the other node still shows that hash.
CREATE TABLE audit_watch_accepted (
    idx BIGINT PRIMARY KEY NOT NULL,
    peer_leaf TEXT NOT NULL,
    problem TEXT NOT NULL,
    acknowledged_by TEXT NOT NULL,
    acknowledged_at TIMESTAMP NOT NULL
);
