-- The keys among $2 that a sync other than $1 pushed to a destination
-- starting with $3 (`org/app/`: an environment override).
SELECT DISTINCT key FROM secret_sync_pushed_keys
 WHERE sync_id <> $1 AND key = ANY($2)
   AND left(destination, length($3)) = $3
 ORDER BY key
