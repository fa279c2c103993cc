-- Live dashboard sessions (idle for less than $1 seconds) of the whole
-- deployment: the API's `secret_sync_dashboard_sessions` gauge. A revoked
-- token's sessions are deleted with it, so no join is needed.
SELECT count(*) AS n FROM dashboard_sessions
 WHERE expires_at > now()
   AND last_seen_at > now() - make_interval(secs => $1)
