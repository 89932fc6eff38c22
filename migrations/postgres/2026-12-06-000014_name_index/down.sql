ALTER TABLE case_identities ADD COLUMN name_grams TEXT NOT NULL DEFAULT '';
UPDATE case_identities SET name_grams = coalesce(
    (SELECT ' ' || string_agg(gram, ' ' ORDER BY gram) || ' ' FROM name_index
     WHERE name_index.case_id = case_identities.case_id),
    '');
DROP TABLE name_index;
