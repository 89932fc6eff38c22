-- The name search's blind index, inverted: one row per keyed hash of a
-- trigram of a person's names and case, so that a search reads the cases
-- holding its rarest trigram instead of every case's list of hashes.
CREATE TABLE name_index (
    gram TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    PRIMARY KEY (gram, case_id)
);
-- A page of cases is checked for the term's other grams through this.
CREATE INDEX name_index_case ON name_index (case_id, gram);

-- The hashes so far, from each identity's list (" h1 h2 … ").
INSERT INTO name_index (gram, case_id)
SELECT DISTINCT g, case_id
FROM case_identities, unnest(string_to_array(btrim(name_grams), ' ')) AS g
WHERE g <> '';

ALTER TABLE case_identities DROP COLUMN name_grams;
