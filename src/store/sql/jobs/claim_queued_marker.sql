-- Makes job $2 sync $1's queued job of kind $4, or folds the request into
-- the one already queued (taken over if its enqueuer never confirmed it
-- within $3 seconds); returns the queued job and its request count.
--
-- The job row is found by its id alone (a scalar, `= (SELECT ...)`), and
-- whether it is still pending is checked on the row, not in the `WHERE`:
-- a plan cached while no job was pending otherwise reads every pending
-- job through `status_idx` (by joining the marker, or filtering them by
-- id), once per enqueue, and enqueue/s fell with the queue's length.
WITH q AS (
    INSERT INTO secret_sync_queued AS q (sync_id, job_id, kind) VALUES ($1, $2, $4)
    ON CONFLICT (sync_id, kind) DO UPDATE SET
        job_id     = CASE WHEN q.published_at IS NULL AND q.created_at < now() - make_interval(secs => $3)
                          THEN EXCLUDED.job_id ELSE q.job_id END,
        coalesced  = CASE WHEN q.published_at IS NULL AND q.created_at < now() - make_interval(secs => $3)
                          THEN 1 ELSE q.coalesced + 1 END,
        created_at = CASE WHEN q.published_at IS NULL AND q.created_at < now() - make_interval(secs => $3)
                          THEN now() ELSE q.created_at END,
        last_request_at = now()
    RETURNING job_id, coalesced),
 shown AS (
    UPDATE secret_sync_jobs j
       SET coalesced = CASE WHEN j.status IN ('pending', 'paused')
                            THEN GREATEST(j.coalesced, (SELECT coalesced FROM q))
                            ELSE j.coalesced END
     WHERE j.id = (SELECT job_id FROM q WHERE job_id <> $2))
SELECT job_id, coalesced FROM q
