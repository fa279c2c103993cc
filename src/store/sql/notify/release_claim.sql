-- Lets another worker take delivery $1 now, if claim $2 holds it.
UPDATE notification_outbox SET claimed_until = NULL, claimed_by = NULL
 WHERE delivery_id = $1 AND claimed_by = $2 AND delivered_at IS NULL
