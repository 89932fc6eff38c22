CREATE INDEX cases_state ON cases (state);
DROP INDEX cases_state_id;
