DROP TABLE case_disagreements;
