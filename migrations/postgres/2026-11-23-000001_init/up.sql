-- Passerelle: initial schema (PostgreSQL). Keep in step with ../../sqlite.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    agency TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE cases (
    id TEXT PRIMARY KEY NOT NULL,
    referral_id TEXT NOT NULL UNIQUE,
    reference TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    state TEXT NOT NULL,
    hold_from_state TEXT,
    version BIGINT NOT NULL,
    counterpart_node TEXT NOT NULL,
    details TEXT NOT NULL,
    created_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    state_changed_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP,
    closure_outcome TEXT,
    reason_code TEXT
);
CREATE INDEX cases_state ON cases(state);
CREATE INDEX cases_due_at ON cases(due_at);
CREATE INDEX cases_created_at ON cases(created_at);

-- Names and contact details, kept apart so they can be purged on their own.
CREATE TABLE case_identities (
    case_id TEXT PRIMARY KEY NOT NULL REFERENCES cases(id),
    identity TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE case_events (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    version BIGINT NOT NULL,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_user_id TEXT REFERENCES users(id),
    actor_role TEXT,
    reason_code TEXT,
    outcome TEXT,
    comment TEXT,
    UNIQUE (case_id, version)
);

-- Transactional outbox: what the other node must learn of, written in the
-- same transaction as the change. Delivered by the peer dispatcher.
CREATE TABLE outbox_messages (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    referral_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX outbox_status ON outbox_messages(status, created_at);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users(id),
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
