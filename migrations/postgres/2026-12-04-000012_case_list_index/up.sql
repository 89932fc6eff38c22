-- The case list filtered by state is read newest first a page at a time:
-- with the id beside the state, a page costs the page, not every case in
-- that state.
CREATE INDEX cases_state_id ON cases (state, id);
DROP INDEX cases_state;
