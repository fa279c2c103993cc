-- Up to $2 connections after id $1 (NULL: from the first), in id order:
-- the project and the encrypted columns, in `crypto::Column::ALL`'s order.
SELECT t.id, t.project_id, t.encrypted_credentials
  FROM app_connections t
 WHERE $1::uuid IS NULL OR t.id > $1 ORDER BY t.id LIMIT $2
