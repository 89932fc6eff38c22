-- The JTWG's statistics, rolled up by calendar month (UTC) as cases move
-- and messages are logged, so that a period of whole months (all time
-- included) is read from a few rows per month instead of every case and
-- entry of the period. `metric` is `cases` (key `direction/state`, the
-- case's state now), `messages` (`outgoing/type`, `incoming/type`),
-- `overdue` (the state) or `timing` (the step; `bucket` is the duration in
-- hundredths of an hour, the precision of the answer).
CREATE TABLE statistics_cells (
    month TEXT NOT NULL,
    metric TEXT NOT NULL,
    key TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (month, metric, key, bucket)
);

-- Whether the cells hold all the history: a node upgraded from a version
-- without them rebuilds them from its cases and log once, at start.
CREATE TABLE statistics_rollup (
    id BIGINT PRIMARY KEY NOT NULL,
    built BOOLEAN NOT NULL
);
INSERT INTO statistics_rollup (id, built) VALUES (1, FALSE);
