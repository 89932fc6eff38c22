DROP INDEX audit_log_message;
CREATE INDEX audit_log_message ON audit_log(message_id);
