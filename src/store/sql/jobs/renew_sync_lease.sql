-- Extends sync $1's lease held under token $2 to $3 seconds from now; no
-- row when it is no longer that token's.
UPDATE secret_syncs
   SET lease_expires_at = clock_timestamp() + make_interval(secs => $3)
 WHERE id = $1 AND lease_token = $2
RETURNING id
