-- The console's language each user chose (`en` or `fr`); none: the browser's.
ALTER TABLE users ADD COLUMN language TEXT;
