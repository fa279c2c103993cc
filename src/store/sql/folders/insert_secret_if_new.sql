-- An imported secret: key $2 of folder $1 (encrypted value $3, comment
-- $4), unless the key exists (no row: it keeps its value).
INSERT INTO secrets (folder_id, key, encrypted_value, encrypted_comment)
VALUES ($1, $2, $3, $4)
ON CONFLICT (folder_id, key) DO NOTHING
RETURNING (xmax = 0) AS inserted
