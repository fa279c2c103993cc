-- Claims up to $3 due deliveries for $1 seconds under claim $2: round
-- robin, each project's first before any project's second and, within a
-- project, each channel's first before any channel's second; a channel
-- never holds more than $4 claims at once nor a project more than $5
-- (every worker's claims counted, under `lock_claims.sql`). One row per
-- event, with its delivery's channel (`ch_*`, as `channel` reads it).
WITH pending AS (
    SELECT delivery_id, channel_id, project_id,
           min(next_attempt_at) AS due, min(created_at) AS first,
           bool_or(claimed_until IS NOT NULL AND claimed_until >= now()) AS held
      FROM notification_outbox
     WHERE delivered_at IS NULL AND given_up_at IS NULL
       AND delivery_id IS NOT NULL
     GROUP BY delivery_id, channel_id, project_id),
 held_channels AS (
    SELECT channel_id, count(*) AS n FROM pending WHERE held GROUP BY channel_id),
 held_projects AS (
    SELECT project_id, count(*) AS n FROM pending WHERE held GROUP BY project_id),
 by_channel AS (
    SELECT p.delivery_id, p.channel_id, p.project_id, p.due, p.first,
           coalesce(h.n, 0) + row_number() OVER (
               PARTITION BY p.channel_id ORDER BY p.first, p.delivery_id)
               AS channel_slot
      FROM pending p LEFT JOIN held_channels h ON h.channel_id = p.channel_id
     WHERE NOT p.held AND p.due <= now()),
 by_project AS (
    SELECT b.delivery_id, b.channel_slot, b.due,
           coalesce(h.n, 0) + row_number() OVER (
               PARTITION BY b.project_id
               ORDER BY b.channel_slot, b.due, b.delivery_id) AS project_slot
      FROM by_channel b LEFT JOIN held_projects h ON h.project_id = b.project_id
     WHERE b.channel_slot <= $4),
 chosen AS (
    SELECT delivery_id FROM by_project WHERE project_slot <= $5
     ORDER BY project_slot, channel_slot, due, delivery_id
     LIMIT $3),
 claimed AS (
    UPDATE notification_outbox o
       SET claimed_until = now() + make_interval(secs => $1), claimed_by = $2
      FROM chosen
     WHERE o.delivery_id = chosen.delivery_id AND o.delivered_at IS NULL
 RETURNING o.*)
SELECT c.delivery_id, c.attempts, c.sync_id, c.job_id, c.job_type, c.event,
       c.message, c.created_at AS at, s.name AS sync_name,
       s.destination_config AS destination,
       ch.id AS ch_id, ch.project_id AS ch_project_id, ch.name AS ch_name,
       ch.kind AS ch_kind, ch.encrypted_url AS ch_encrypted_url,
       ch.encrypted_secret AS ch_encrypted_secret, ch.created_at AS ch_created_at,
       ch.failing_since AS ch_failing_since, ch.last_error AS ch_last_error,
       ch.email AS ch_email
  FROM claimed c
  JOIN notification_channels ch ON ch.id = c.channel_id
  LEFT JOIN secret_syncs s ON s.id = c.sync_id
 ORDER BY c.delivery_id, c.id
