-- At most $3 connections named $1 in projects $2 (NULL: every project),
-- each with its project.
-- The connection `c` as the API shows it, in Infisical's shape (its
-- `SanitizedHumanitecConnectionSchema`): never its credentials
-- (`credentials: {}`), with the fields Infisical's clients read set to
-- what is true here; `p` is its project. The same object in every
-- `connections/*.sql` that returns one (a unit test in `sql/mod.rs` checks).
SELECT c.project_id,
       jsonb_build_object(
           'id', c.id, 'name', c.name, 'description', c.description,
           'projectId', c.project_id, 'app', c.app, 'method', c.method,
           'credentials', '{}'::jsonb, 'version', c.version,
           'isPlatformManagedCredentials', false, 'isAutoRotationEnabled', false,
           'gatewayId', NULL,
           'project', jsonb_build_object('id', p.id, 'name', p.name, 'slug', p.id,
                                         'type', 'secret-manager'),
           'createdAt', c.created_at, 'updatedAt', c.updated_at)
  FROM app_connections c
  JOIN projects p ON p.id = c.project_id
 WHERE c.name = $1 AND ($2::text[] IS NULL OR c.project_id = ANY($2))
 ORDER BY c.project_id LIMIT $3
