-- Up to $2 sync ids after $1 (NULL: from the first), in order.
SELECT id FROM secret_syncs WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2
