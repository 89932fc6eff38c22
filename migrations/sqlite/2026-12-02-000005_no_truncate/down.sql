-- SQLite has no TRUNCATE: a DELETE without WHERE on a table with a DELETE
-- trigger runs the trigger (the truncate optimisation is off), so the
-- append-only tables already refuse it. Kept so both sets have the same
-- migrations.
SELECT 1;
