DROP TABLE audit_evidence;
DROP TABLE audit_cosignatures;
DROP TABLE audit_checkpoints;
DROP TABLE audit_head;
DROP TABLE audit_tree;
DROP TABLE audit_log;
