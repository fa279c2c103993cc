-- Extends claim $2 on delivery $1 to $3 seconds from now, if it still
-- holds it.
UPDATE notification_outbox
   SET claimed_until = now() + make_interval(secs => $3)
 WHERE delivery_id = $1 AND claimed_by = $2 AND delivered_at IS NULL
   AND claimed_until >= now()
