-- A new notification channel of project $1: $2 name, $3 kind,
-- $4 encrypted URL, $5 encrypted signing secret (or SMTP password), $6
-- an email channel's settings (`channel` reads it).
INSERT INTO notification_channels
    (project_id, name, kind, encrypted_url, encrypted_secret, email)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, project_id, name, kind, encrypted_url, encrypted_secret,
       created_at, failing_since, last_error, email
