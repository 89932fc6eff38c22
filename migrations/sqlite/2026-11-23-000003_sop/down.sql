DROP TABLE crossing_points;
DROP TABLE directory_services;
DROP TABLE directory_organizations;
DROP TABLE case_reports;
DROP TABLE handovers;
DROP TABLE overdue_steps;
DROP TABLE case_erasures;
