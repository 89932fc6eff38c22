-- Passerelle: initial schema (SQLite). Keep in step with ../../postgres.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    agency TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT 0,
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

-- Transactional outbox: what the other node must learn of, written, signed
-- and chained in the same transaction as the change; delivered in `seq` order.
CREATE TABLE outbox_messages (
    id TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL UNIQUE,
    case_id TEXT NOT NULL REFERENCES cases(id),
    referral_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT NOT NULL,
    hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected', 'suspended')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    settled_at TIMESTAMP,
    receipt TEXT,
    receipt_signer TEXT
);
CREATE INDEX outbox_status_seq ON outbox_messages(status, seq);
CREATE INDEX outbox_case ON outbox_messages(case_id);

-- Inbox: every message accepted into the incoming chain, with the signed
-- receipt that was returned for it (a duplicate gets the same receipt back).
CREATE TABLE inbox_messages (
    id TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    referral_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    body TEXT NOT NULL,
    signature TEXT NOT NULL,
    hash TEXT NOT NULL,
    signer TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    code TEXT,
    receipt TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX inbox_referral ON inbox_messages(referral_id);

-- Head of each direction's hash chain.
CREATE TABLE peer_channels (
    direction TEXT PRIMARY KEY NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    last_seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO peer_channels (direction, last_seq, last_hash) VALUES
    ('outgoing', 0, '0000000000000000000000000000000000000000000000000000000000000000'),
    ('incoming', 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Certificates that signed messages or receipts, by SHA-256 fingerprint.
CREATE TABLE certificates (
    fingerprint TEXT PRIMARY KEY NOT NULL,
    pem TEXT NOT NULL,
    first_seen TIMESTAMP NOT NULL
);

-- Problems with the exchange that an administrator must see (sequence gaps,
-- broken chains, suspended messages).
CREATE TABLE peer_alerts (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users(id),
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
