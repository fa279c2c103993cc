-- Secret $1's encrypted columns become $4, $5 if they still hold $2, $3
-- (`crypto::Column::ALL`'s order).
UPDATE secrets SET encrypted_value = $4, encrypted_comment = $5
 WHERE id = $1 AND encrypted_value IS NOT DISTINCT FROM $2
   AND encrypted_comment IS NOT DISTINCT FROM $3
