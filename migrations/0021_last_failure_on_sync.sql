-- When a job of the sync last failed, kept on the sync row: the dashboard
-- sorts every sync by it (by default: failed first, newest failure first),
-- and reading it per sync from the jobs table cost one index probe per sync
-- (60 ms of a 95 ms page at 10,000 syncs).
--
-- A trigger keeps it, so every path that records a failed job (a finish,
-- a job that could not run, a job that panicked or could not be run for too long)
-- sets it without each having to remember. It fires only for failed rows:
-- the no-op path's writes pay one WHEN check. The column has no index, so
-- status writes stay HOT (0009).
ALTER TABLE secret_syncs ADD COLUMN IF NOT EXISTS last_failed_at timestamptz;

UPDATE secret_syncs s SET last_failed_at = f.at
  FROM (SELECT sync_id, max(finished_at) AS at FROM secret_sync_jobs
         WHERE status = 'failed' AND finished_at IS NOT NULL
         GROUP BY sync_id) f
 WHERE f.sync_id = s.id;

CREATE OR REPLACE FUNCTION secret_sync_note_failure() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE secret_syncs SET last_failed_at = NEW.finished_at
     WHERE id = NEW.sync_id
       AND (last_failed_at IS NULL OR last_failed_at < NEW.finished_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER secret_sync_jobs_note_failure
    AFTER INSERT OR UPDATE OF status, finished_at ON secret_sync_jobs
    FOR EACH ROW
    WHEN (NEW.status = 'failed' AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION secret_sync_note_failure();
