-- One page of project $1's syncs as API objects (the `secret_syncs_api`
-- view), each with how many the filter matches in all (`total`, before
-- offset and limit: a whole list longer than the cap is refused before
-- its answer starts), by name, only those whose pushed-keys record holds key $4
-- exactly (at any destination it pushed to): $2 offset, $3 limit. The
-- `lower` term finds the rows in the index of migration 0029.
SELECT v.secret_sync, count(*) OVER () AS total FROM secret_syncs_api v JOIN secret_syncs s ON s.id = v.id
 WHERE s.project_id = $1
   AND s.id IN (SELECT p.sync_id FROM secret_sync_pushed_keys p
                 WHERE lower(p.key) = lower($4) AND p.key = $4)
 ORDER BY s.name OFFSET $2 LIMIT $3
