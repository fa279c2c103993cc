-- Channel $1 is healthy again (delivered, $2) or failing since its first
-- failure, with error $3.
UPDATE notification_channels
   SET failing_since = CASE WHEN $2 THEN NULL ELSE coalesce(failing_since, now()) END,
       last_error = CASE WHEN $2 THEN NULL ELSE $3 END
 WHERE id = $1
