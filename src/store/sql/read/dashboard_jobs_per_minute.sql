-- Jobs of syncs in projects $1 finished in the last hour, per minute ago
-- and outcome. Grouped by calendar minute first (cheap), aged after; the
-- job's project is in the index read (migration 0022).
SELECT floor(extract(epoch FROM now() - m) / 60)::int8, status, n
  FROM (SELECT date_trunc('minute', j.finished_at) AS m, j.status, count(*) AS n
          FROM secret_sync_jobs j
         WHERE j.finished_at > date_trunc('minute', now()) - interval '59 minutes'
           AND j.project_id = ANY($1)
         GROUP BY 1, 2) per_minute
