-- Up to $2 notification channels after id $1 (NULL: from the first), in
-- id order: the project and the encrypted columns, in
-- `crypto::Column::ALL`'s order.
SELECT t.id, t.project_id, t.encrypted_url, t.encrypted_secret
  FROM notification_channels t
 WHERE $1::uuid IS NULL OR t.id > $1 ORDER BY t.id LIMIT $2
