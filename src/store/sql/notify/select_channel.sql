-- Notification channel $1 (`channel` reads it).
SELECT id, project_id, name, kind, encrypted_url, encrypted_secret,
       created_at, failing_since, last_error, email
  FROM notification_channels WHERE id = $1
