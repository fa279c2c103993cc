-- Every project's id (what an instance-wide admin token sees).
SELECT id FROM projects ORDER BY id
