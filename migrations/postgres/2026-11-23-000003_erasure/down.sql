DROP TABLE case_erasures;
