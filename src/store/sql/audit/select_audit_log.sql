-- One page of audit entries, newest first: of projects $2 unless $1 (all,
-- instance-wide entries included); NULL for any: $3 project, $4 actor
-- (name, token id or kind), $5 action, $6 target id, $7 since, $8 until,
-- $9 before this id; $10 limit. Sent unnamed and planned for the values
-- given (`query_replanned`).
SELECT id, at, actor_kind, actor_token_id, actor_name, project_id, action,
       target_type, target_id, changes, req_id
  FROM audit_log
 WHERE ($1 OR project_id = ANY($2))
   AND ($3::text IS NULL OR project_id = $3)
   AND ($4::text IS NULL OR actor_name = $4 OR actor_token_id::text = $4 OR actor_kind = $4)
   AND ($5::text IS NULL OR action = $5)
   AND ($6::text IS NULL OR target_id = $6)
   AND ($7::timestamptz IS NULL OR at >= $7)
   AND ($8::timestamptz IS NULL OR at < $8)
   AND ($9::int8 IS NULL OR id < $9)
 ORDER BY id DESC
 LIMIT $10
