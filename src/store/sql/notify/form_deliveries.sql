-- Forms deliveries: every channel whose oldest waiting event is $1
-- seconds old gets a new delivery of everything it has waiting.
WITH ready AS (
    SELECT channel_id, gen_random_uuid() AS delivery_id FROM notification_outbox
     WHERE delivery_id IS NULL AND delivered_at IS NULL
     GROUP BY channel_id
    HAVING min(created_at) <= now() - make_interval(secs => $1))
UPDATE notification_outbox o SET delivery_id = ready.delivery_id
  FROM ready
 WHERE o.channel_id = ready.channel_id AND o.delivery_id IS NULL
   AND o.delivered_at IS NULL
