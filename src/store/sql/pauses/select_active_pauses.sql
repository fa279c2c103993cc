-- The active pauses (issue 41): the instance's (connection NULL) first,
-- then by when they began, with each connection's name. Few rows: a
-- pause is a rare, manual act.
SELECT p.id, p.connection_id, p.project_id, p.reason, p.paused_by, p.paused_at,
       c.name AS connection_name
  FROM secret_sync_pauses p
  LEFT JOIN app_connections c ON c.id = p.connection_id
 WHERE p.resumed_at IS NULL
 ORDER BY p.connection_id IS NOT NULL, p.paused_at
