-- TRUNCATE fires no row trigger: every append-only table refuses it too,
-- not only the log and the tree (and the head, which only grows).
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_cosignatures_no_truncate BEFORE TRUNCATE ON audit_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_evidence_no_truncate BEFORE TRUNCATE ON audit_evidence
    FOR EACH STATEMENT EXECUTE FUNCTION passerelle_append_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION passerelle_append_only();
