-- An imported secret: key $2 of folder $1 (encrypted value $3, comment
-- $4), overwriting the value of an existing key. `inserted` (xmax = 0)
-- tells a fresh insert from an update.
INSERT INTO secrets (folder_id, key, encrypted_value, encrypted_comment)
VALUES ($1, $2, $3, $4)
ON CONFLICT (folder_id, key) DO UPDATE
   SET encrypted_value = EXCLUDED.encrypted_value,
       version = secrets.version + 1, updated_at = now()
RETURNING (xmax = 0) AS inserted
