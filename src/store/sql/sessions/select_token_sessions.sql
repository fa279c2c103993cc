-- Token $1's live sessions (idle for less than $2 seconds), newest first.
SELECT created_at, last_seen_at, expires_at FROM dashboard_sessions
 WHERE token_id = $1 AND expires_at > now()
   AND last_seen_at > now() - make_interval(secs => $2)
 ORDER BY created_at DESC
