-- Deletes up to $2 audit entries older than $1 seconds.
DELETE FROM audit_log WHERE id IN (
    SELECT id FROM audit_log
     WHERE at < now() - make_interval(secs => $1)
     ORDER BY at LIMIT $2)
