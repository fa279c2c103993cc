-- Connection $1's encrypted credentials become $3 if they still hold $2.
UPDATE app_connections SET encrypted_credentials = $3
 WHERE id = $1 AND encrypted_credentials IS NOT DISTINCT FROM $2
