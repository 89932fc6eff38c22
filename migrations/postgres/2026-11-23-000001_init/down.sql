DROP TABLE idempotency_keys;
DROP TABLE outbox_messages;
DROP TABLE case_events;
DROP TABLE case_identities;
DROP TABLE cases;
DROP TABLE api_tokens;
DROP TABLE users;
