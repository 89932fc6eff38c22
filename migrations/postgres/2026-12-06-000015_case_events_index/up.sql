-- A case's timeline, and the timelines of the cases of a period (the
-- JTWG's statistics), are read by case: without this, every read of them
-- scanned every case's events.
CREATE INDEX case_events_case ON case_events (case_id, at);
