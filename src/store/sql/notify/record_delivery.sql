-- An attempt of delivery $1: delivered ($2), or put back until $3 (NULL:
-- as it was), or given up when its first event is older than $4 seconds
-- or the failure is permanent ($5: another try would fail the same way).
-- Returns whether it was given up; no row: the channel is gone.
WITH d AS (SELECT min(created_at) AS first FROM notification_outbox
            WHERE delivery_id = $1 AND delivered_at IS NULL)
UPDATE notification_outbox SET attempts = attempts + 1,
       claimed_until = NULL, claimed_by = NULL,
       delivered_at = CASE WHEN $2 THEN now() END,
       given_up_at = CASE WHEN NOT $2
           AND ($5 OR (SELECT first FROM d) <= now() - make_interval(secs => $4))
           THEN now() END,
       next_attempt_at = coalesce($3, next_attempt_at)
 WHERE delivery_id = $1 AND delivered_at IS NULL
RETURNING given_up_at IS NOT NULL
