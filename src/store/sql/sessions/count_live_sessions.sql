-- Live sessions (idle for less than $1 seconds) per token.
SELECT token_id, count(*) AS n FROM dashboard_sessions
 WHERE expires_at > now()
   AND last_seen_at > now() - make_interval(secs => $1)
 GROUP BY token_id
