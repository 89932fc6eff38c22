ALTER TABLE case_identities DROP COLUMN name_grams;
DROP TABLE vault_state;
DROP TABLE case_keys;
