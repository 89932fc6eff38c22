-- The name search's blind index, inverted: one row per keyed hash of a
-- trigram of a person's names and case, so that a search reads the cases
-- holding its rarest trigram instead of every case's list of hashes.
CREATE TABLE name_index (
    gram TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases(id),
    PRIMARY KEY (gram, case_id)
) WITHOUT ROWID;
-- A page of cases is checked for the term's other grams through this.
CREATE INDEX name_index_case ON name_index (case_id, gram);

-- The hashes so far, from each identity's list (" h1 h2 … ").
INSERT INTO name_index (gram, case_id)
WITH RECURSIVE split(case_id, rest, gram) AS (
    SELECT case_id, ltrim(name_grams), NULL FROM case_identities
    UNION ALL
    SELECT case_id,
           substr(rest, instr(rest, ' ') + 1),
           substr(rest, 1, instr(rest, ' ') - 1)
    FROM split WHERE instr(rest, ' ') > 0
)
SELECT DISTINCT gram, case_id FROM split WHERE gram IS NOT NULL AND gram <> '';

ALTER TABLE case_identities DROP COLUMN name_grams;
