DROP TABLE audit_watch_accepted;
DROP TABLE audit_watch;
