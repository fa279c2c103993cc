-- One page of connections as API objects, by name: of projects $1 (NULL:
-- every project); $2 offset, $3 limit.
-- The connection `c` as the API shows it, in Infisical's shape (its
-- `SanitizedHumanitecConnectionSchema`): never its credentials
-- (`credentials: {}`), with the fields Infisical's clients read set to
-- what is true here; `p` is its project. The same object in every
-- `connections/*.sql` that returns one (a unit test in `sql/mod.rs` checks).
SELECT jsonb_build_object(
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
 WHERE ($1::text[] IS NULL OR c.project_id = ANY($1))
 ORDER BY c.name, c.project_id, c.id OFFSET $2 LIMIT $3
