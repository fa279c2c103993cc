-- One page of project $1's syncs as API objects (the `secret_syncs_api`
-- view), each with how many the filter matches in all (`total`, before
-- offset and limit: a whole list longer than the cap is refused before
-- its answer starts), by name: $2 offset, $3 limit.
SELECT v.secret_sync, count(*) OVER () AS total FROM secret_syncs_api v JOIN secret_syncs s ON s.id = v.id
 WHERE s.project_id = $1 ORDER BY s.name OFFSET $2 LIMIT $3
