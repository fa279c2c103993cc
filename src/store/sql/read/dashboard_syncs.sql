-- A page of the sync list (`dashboard_syncs`) and how many syncs match in
-- all. The page's ids first, sorted on the sort key alone; the shown
-- columns (JSON fields, the message) are read for those rows only, not
-- for every sync that matches: 65 ms to 25 ms for page 100 of 10,000.
--
-- The filters: $1 the viewer's projects; then, NULL for any: $2 status
-- (`never`: never ran), $3 project, $4 app, $5 env, $6 search: a
-- case-insensitive substring of one text made of the name, the
-- destination (`org/app/env`), the source environment and path and the
-- connection's name, joined by a character nobody types (so a match
-- never spans two of them); `%` and `_` match themselves. One `strpos`
-- per row instead of five `ILIKE`s: a third faster at 10,000 syncs. Or
-- $6 is, in any case, the whole name of a key the sync's pushed-keys
-- record holds (at any destination it pushed to): one look-up in the
-- index of migration 0029, hashed once, never a read of every sync's
-- keys. Names only: the record holds no value. The
-- same filters as `dashboard_filtered_counts.sql` and
-- `dashboard_failed_syncs.sql` (a unit test in `sql/mod.rs` checks).
--
-- $7 limit, $8 offset; the order: $9 the column (`SyncSort::as_str`),
-- $10 descending. Sent unnamed and planned for the values given
-- (`query_replanned`), so each `CASE` of the order folds to its column or
-- to a constant, which sorts nothing: the rows are sorted on the chosen
-- column alone, an expression of the sync row `s`, so the sort reads no
-- more than it orders by.
WITH page AS (
    SELECT s.id, count(*) OVER () AS total
      FROM secret_syncs s
      LEFT JOIN secret_folders f ON f.id = s.folder_id
      LEFT JOIN environments e ON e.id = f.environment_id
      LEFT JOIN app_connections c ON c.id = s.connection_id
     WHERE s.project_id = ANY($1)
       AND ($2::text IS NULL OR coalesce(s.sync_status, 'never') = $2)
       AND ($3::text IS NULL OR s.project_id = $3)
       AND ($4::text IS NULL OR s.destination_config->>'app' = $4)
       AND ($5::text IS NULL OR s.destination_config->>'env' = $5)
       AND ($6::text IS NULL OR strpos(lower(concat_ws(chr(1), s.name,
                concat_ws('/', s.destination_config->>'org', s.destination_config->>'app',
                          s.destination_config->>'env'),
                e.slug, f.path, c.name)), lower($6)) > 0
           OR s.id IN (SELECT p.sync_id FROM secret_sync_pushed_keys p
                       WHERE lower(p.key) = lower($6)))
     ORDER BY
        -- default: failed first, the most recent failure first, by name
        CASE WHEN $9 = 'default' THEN s.sync_status IS DISTINCT FROM 'failed' END,
        -- status: failed, queued, syncing, never run, synced
        CASE WHEN $9 = 'status' AND NOT $10 THEN
            CASE coalesce(s.sync_status, 'never') WHEN 'failed' THEN 0 WHEN 'pending' THEN 1
                 WHEN 'running' THEN 2 WHEN 'never' THEN 3 ELSE 4 END END,
        CASE WHEN $9 = 'status' AND $10 THEN
            CASE coalesce(s.sync_status, 'never') WHEN 'failed' THEN 0 WHEN 'pending' THEN 1
                 WHEN 'running' THEN 2 WHEN 'never' THEN 3 ELSE 4 END END DESC,
        CASE WHEN $9 = 'default' OR ($9 = 'status' AND NOT $10)
             THEN s.last_failed_at END DESC NULLS LAST,
        CASE WHEN $9 = 'name' AND $10 THEN s.name END DESC,
        CASE WHEN $9 = 'destination' AND NOT $10 THEN
            concat_ws('/', s.destination_config->>'org', s.destination_config->>'app',
                      s.destination_config->>'env') END,
        CASE WHEN $9 = 'destination' AND $10 THEN
            concat_ws('/', s.destination_config->>'org', s.destination_config->>'app',
                      s.destination_config->>'env') END DESC,
        CASE WHEN $9 = 'last-synced' AND NOT $10 THEN s.last_synced_at END NULLS FIRST,
        CASE WHEN $9 = 'last-synced' AND $10 THEN s.last_synced_at END DESC NULLS LAST,
        CASE WHEN $9 = 'last-failure' AND NOT $10 THEN s.last_failed_at END NULLS LAST,
        CASE WHEN $9 = 'last-failure' AND $10 THEN s.last_failed_at END DESC NULLS LAST,
        s.name, s.id
     LIMIT $7 OFFSET $8)
SELECT s.id, s.name, s.project_id, s.destination_config->>'org',
       s.destination_config->>'app', s.destination_config->>'env', e.slug, f.path,
       s.sync_status, s.last_synced_at, s.last_sync_message, s.is_auto_sync_enabled,
       s.last_failed_at, c.name,
       page.total
  FROM secret_syncs s
  LEFT JOIN secret_folders f ON f.id = s.folder_id
  LEFT JOIN environments e ON e.id = f.environment_id
  LEFT JOIN app_connections c ON c.id = s.connection_id
  JOIN page ON page.id = s.id
 ORDER BY
    -- the page's order, as above
    CASE WHEN $9 = 'default' THEN s.sync_status IS DISTINCT FROM 'failed' END,
    CASE WHEN $9 = 'status' AND NOT $10 THEN
        CASE coalesce(s.sync_status, 'never') WHEN 'failed' THEN 0 WHEN 'pending' THEN 1
             WHEN 'running' THEN 2 WHEN 'never' THEN 3 ELSE 4 END END,
    CASE WHEN $9 = 'status' AND $10 THEN
        CASE coalesce(s.sync_status, 'never') WHEN 'failed' THEN 0 WHEN 'pending' THEN 1
             WHEN 'running' THEN 2 WHEN 'never' THEN 3 ELSE 4 END END DESC,
    CASE WHEN $9 = 'default' OR ($9 = 'status' AND NOT $10)
         THEN s.last_failed_at END DESC NULLS LAST,
    CASE WHEN $9 = 'name' AND $10 THEN s.name END DESC,
    CASE WHEN $9 = 'destination' AND NOT $10 THEN
        concat_ws('/', s.destination_config->>'org', s.destination_config->>'app',
                  s.destination_config->>'env') END,
    CASE WHEN $9 = 'destination' AND $10 THEN
        concat_ws('/', s.destination_config->>'org', s.destination_config->>'app',
                  s.destination_config->>'env') END DESC,
    CASE WHEN $9 = 'last-synced' AND NOT $10 THEN s.last_synced_at END NULLS FIRST,
    CASE WHEN $9 = 'last-synced' AND $10 THEN s.last_synced_at END DESC NULLS LAST,
    CASE WHEN $9 = 'last-failure' AND NOT $10 THEN s.last_failed_at END NULLS LAST,
    CASE WHEN $9 = 'last-failure' AND $10 THEN s.last_failed_at END DESC NULLS LAST,
    s.name, s.id
