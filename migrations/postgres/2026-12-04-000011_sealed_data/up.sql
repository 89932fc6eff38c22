-- Personal data at rest is sealed with a data key per referral, stored
-- here wrapped by the node's key-encryption key of epoch `epoch` (a file of
-- the key ring, outside the database). Erasure deletes the row; the next
-- key rotation re-wraps the others under a new epoch and destroys the old
-- key, so that copies of a deleted row (dead rows, the write-ahead log,
-- backups) can no longer be unwrapped.
CREATE TABLE case_keys (
    referral_id TEXT PRIMARY KEY NOT NULL,
    epoch BIGINT NOT NULL,
    wrapped TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX case_keys_epoch ON case_keys (epoch);

-- The key ring's state: which ring is this database's (its key files are
-- named after it, so that two databases never use each other's keys), the
-- epoch new data keys are wrapped under, when it began, and when a data key
-- was last destroyed (a rotation is due when that is later).
CREATE TABLE vault_state (
    id BIGINT PRIMARY KEY NOT NULL,
    ring TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    rotated_at TIMESTAMP NOT NULL,
    destroyed_at TIMESTAMP
);
INSERT INTO vault_state (id, ring, epoch, rotated_at, destroyed_at) VALUES (1, '', 1, CURRENT_TIMESTAMP, NULL);

-- Blind index of the person's names (keyed hashes of their trigrams), so
-- that the sealed identity block can be searched by name.
ALTER TABLE case_identities ADD COLUMN name_grams TEXT NOT NULL DEFAULT '';
