-- One worker's report of the Humanitec tokens it writes with, and what the
-- rest of the fleet does with every token (src/humanitec/limiter.rs).
-- $1 worker id; $2 the keyed hashes of the tokens it sent writes with
-- lately, $3 its window for each, $4 whether that window met the server's
-- limit; $5 how many seconds a report counts (older: the worker stopped
-- writing, or is gone). Drops this worker's reports of tokens it no longer
-- writes with, and anyone's report older than a minute.
WITH gone AS (
    DELETE FROM secret_sync_humanitec_writers
    WHERE seen_at < now() - interval '1 minute'
       OR (worker_id = $1 AND NOT (token_key = ANY ($2::bytea[])))
), mine AS (
    INSERT INTO secret_sync_humanitec_writers AS w
        (token_key, worker_id, write_limit, avoiding, seen_at)
    SELECT key, $1, write_limit, avoiding, now()
    FROM unnest($2::bytea[], $3::int[], $4::bool[]) AS t (key, write_limit, avoiding)
    ON CONFLICT (token_key, worker_id) DO UPDATE
    SET write_limit = EXCLUDED.write_limit, avoiding = EXCLUDED.avoiding, seen_at = now()
)
SELECT token_key,
       count(*)::int AS others,
       sum(write_limit)::int AS others_limit,
       bool_or(avoiding) AS avoiding
FROM secret_sync_humanitec_writers
WHERE worker_id <> $1 AND seen_at > now() - make_interval(secs => $5)
GROUP BY token_key
