DROP INDEX case_events_case;
