-- The audit log (append-only): one row per leaf of the node's Merkle tree.
-- References and digests only, never personal data, so that erasing a
-- victim's data never breaks the log. `idx` is the leaf index (0-based).
CREATE TABLE audit_log (
    idx BIGINT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT,
    action TEXT NOT NULL,
    case_id TEXT,
    referral_id TEXT,
    message_id TEXT,
    seq BIGINT,
    digest TEXT,
    peer_index BIGINT,
    outcome TEXT NOT NULL,
    code TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_kind ON audit_log(kind, idx);
CREATE INDEX audit_log_message ON audit_log(message_id);

-- Perfect subtrees of two Merkle trees: this node's log (`own`) and the
-- peer's log as witnessed here (`peer`, leaf hashes only, never entries).
-- (level, idx) covers leaves [idx * 2^level, (idx + 1) * 2^level); level 0
-- holds the leaf hashes (hex).
CREATE TABLE audit_tree (
    tree TEXT NOT NULL CHECK (tree IN ('own', 'peer')),
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tree, level, idx)
);

-- Size of the log; its single row is the append lock.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO audit_head (id, size) VALUES (1, 0);

-- Signed checkpoints (signed notes): this node's and the peer's it witnessed.
CREATE TABLE audit_checkpoints (
    origin TEXT NOT NULL,
    size BIGINT NOT NULL,
    root TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL,
    note TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (origin, size)
);

-- Cosignatures on checkpoints: the peer's on ours, ours on the peer's.
CREATE TABLE audit_cosignatures (
    origin TEXT NOT NULL,
    size BIGINT NOT NULL,
    witness TEXT NOT NULL,
    signature TEXT NOT NULL,
    cosigned_at TIMESTAMP NOT NULL,
    PRIMARY KEY (origin, size, witness)
);

-- Checkpoints the peer sent that were refused (bad signature, inconsistent,
-- rolled back), kept as evidence.
CREATE TABLE audit_evidence (
    id TEXT PRIMARY KEY NOT NULL,
    origin TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    note TEXT NOT NULL,
    proof TEXT NOT NULL
);


-- The database itself refuses to change or remove what was logged.
CREATE FUNCTION passerelle_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_tree_append_only BEFORE UPDATE OR DELETE ON audit_tree
    FOR EACH ROW EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_tree_no_truncate BEFORE TRUNCATE ON audit_tree
    FOR EACH STATEMENT EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_cosignatures_append_only BEFORE UPDATE OR DELETE ON audit_cosignatures
    FOR EACH ROW EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_evidence_append_only BEFORE UPDATE OR DELETE ON audit_evidence
    FOR EACH ROW EXECUTE FUNCTION passerelle_append_only();

CREATE FUNCTION passerelle_head_grows() RETURNS trigger AS $$
BEGIN
    IF NEW.size < OLD.size THEN
        RAISE EXCEPTION 'audit_head only grows';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_head_grows BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION passerelle_head_grows();
