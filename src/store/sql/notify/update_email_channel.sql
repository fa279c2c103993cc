-- Email channel $1's new settings: $2 encrypted server URL, $3 encrypted
-- SMTP password (NULL: none), $4 the rest. Its failing state is cleared:
-- the next delivery tells (`channel` reads it).
UPDATE notification_channels
   SET encrypted_url = $2, encrypted_secret = $3, email = $4,
       failing_since = NULL, last_error = NULL
 WHERE id = $1 AND kind = 'email'
RETURNING id, project_id, name, kind, encrypted_url, encrypted_secret,
       created_at, failing_since, last_error, email
