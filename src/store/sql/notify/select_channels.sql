-- Project $1's notification channels, by name (`channel` reads them).
SELECT id, project_id, name, kind, encrypted_url, encrypted_secret,
       created_at, failing_since, last_error, email
  FROM notification_channels
 WHERE project_id = $1 ORDER BY name
