-- Sign-in for the console: a password per user (argon2id, PHC string), the
-- sessions a sign-in opens (the cookie's token, hashed; its CSRF token is derived from it),
-- and the failed attempts per username (growing delays, then a lock).
CREATE TABLE user_passwords (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id),
    hash TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE sign_in_attempts (
    username TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    last_failure_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
