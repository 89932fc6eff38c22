-- How many cases hold each gram of the name index, kept with it: a search
-- ranks its term's grams by rarity from one lookup each, exactly, however
-- many cases a common gram has.
CREATE TABLE name_grams (
    gram TEXT PRIMARY KEY NOT NULL,
    holders BIGINT NOT NULL
);

INSERT INTO name_grams (gram, holders)
SELECT gram, count(*) FROM name_index GROUP BY gram;
