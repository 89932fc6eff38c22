-- Shared cases on which the two nodes were found to disagree when they
-- compared their digests, and how each disagreement was settled. No
-- personal data: ids and states only.
CREATE TABLE case_disagreements (
    referral_id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    local_state TEXT NOT NULL,
    peer_state TEXT NOT NULL,
    -- For `on_hold` at the other node: the state it was held from.
    peer_hold_from TEXT,
    detected_at TIMESTAMP NOT NULL,
    checked_at TIMESTAMP NOT NULL,
    -- `reapplied`, `adopted_peer_state`, `kept_local_state` (the peer adopts
    -- this node's state), `escalated` (a supervisor decides), `agreed`.
    resolution TEXT NOT NULL,
    resolved_at TIMESTAMP
);
CREATE INDEX case_disagreements_open ON case_disagreements (resolved_at);
