DROP TABLE statistics_rollup;
DROP TABLE statistics_cells;
