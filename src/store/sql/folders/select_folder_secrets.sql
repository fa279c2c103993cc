-- Folder $1's secrets (encrypted), by key.
SELECT key, encrypted_value, encrypted_comment FROM secrets
 WHERE folder_id = $1 ORDER BY key
