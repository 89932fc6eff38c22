-- The certificates whose keys this node signed its checkpoints with (its
-- client certificates, current and previous), so that an export can prove
-- checkpoints signed before a key rotation.
CREATE TABLE own_certificates (
    fingerprint TEXT PRIMARY KEY NOT NULL,
    pem TEXT NOT NULL,
    first_used TIMESTAMP NOT NULL
);
