-- Deletes up to $2 delivery attempts and up to $2 delivered (or given
-- up) outbox rows older than $1 seconds; returns how many went.
WITH a AS (
    DELETE FROM notification_attempts WHERE id IN (
        SELECT id FROM notification_attempts
         WHERE at < now() - make_interval(secs => $1) ORDER BY at LIMIT $2)
    RETURNING 1),
 o AS (
    DELETE FROM notification_outbox WHERE id IN (
        SELECT id FROM notification_outbox
         WHERE coalesce(delivered_at, given_up_at)
               < now() - make_interval(secs => $1)
         ORDER BY coalesce(delivered_at, given_up_at) LIMIT $2)
    RETURNING 1)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM o)
