-- Changes connection $1 and bumps its version; a NULL keeps the value:
-- $2 name, $4 description (set only when $3), $5 encrypted credentials.
-- No row: no such connection, or another of its project has the name.
-- The connection `c` as the API shows it, in Infisical's shape (its
-- `SanitizedHumanitecConnectionSchema`): never its credentials
-- (`credentials: {}`), with the fields Infisical's clients read set to
-- what is true here; `p` is its project. The same object in every
-- `connections/*.sql` that returns one (a unit test in `sql/mod.rs` checks).
WITH c AS (
    UPDATE app_connections SET
        name = coalesce($2, name),
        description = CASE WHEN $3 THEN $4 ELSE description END,
        encrypted_credentials = coalesce($5, encrypted_credentials),
        version = version + 1,
        updated_at = now()
     WHERE id = $1
       AND NOT EXISTS (SELECT 1 FROM app_connections o
                        WHERE o.project_id = app_connections.project_id
                          AND o.name = $2 AND o.id <> $1)
    RETURNING *)
SELECT jsonb_build_object(
           'id', c.id, 'name', c.name, 'description', c.description,
           'projectId', c.project_id, 'app', c.app, 'method', c.method,
           'credentials', '{}'::jsonb, 'version', c.version,
           'isPlatformManagedCredentials', false, 'isAutoRotationEnabled', false,
           'gatewayId', NULL,
           'project', jsonb_build_object('id', p.id, 'name', p.name, 'slug', p.id,
                                         'type', 'secret-manager'),
           'createdAt', c.created_at, 'updatedAt', c.updated_at)
  FROM c JOIN projects p ON p.id = c.project_id
