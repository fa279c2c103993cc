-- Deletes up to $2 expired dashboard sessions (past their end, or idle
-- for $1 seconds).
DELETE FROM dashboard_sessions WHERE id_hash IN (
    SELECT id_hash FROM dashboard_sessions
     WHERE expires_at <= now()
        OR last_seen_at <= now() - make_interval(secs => $1)
     LIMIT $2)
