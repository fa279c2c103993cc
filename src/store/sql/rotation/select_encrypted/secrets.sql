-- Up to $2 secrets after id $1 (NULL: from the first), in id order: the
-- project (through folder and environment) and the encrypted columns, in
-- `crypto::Column::ALL`'s order.
SELECT t.id, e.project_id, t.encrypted_value, t.encrypted_comment
  FROM secrets t JOIN secret_folders f ON f.id = t.folder_id
                 JOIN environments e ON e.id = f.environment_id
 WHERE $1::uuid IS NULL OR t.id > $1 ORDER BY t.id LIMIT $2
