-- Channel $1's encrypted columns become $4, $5 if they still hold $2, $3
-- (`crypto::Column::ALL`'s order).
UPDATE notification_channels SET encrypted_url = $4, encrypted_secret = $5
 WHERE id = $1 AND encrypted_url IS NOT DISTINCT FROM $2
   AND encrypted_secret IS NOT DISTINCT FROM $3
