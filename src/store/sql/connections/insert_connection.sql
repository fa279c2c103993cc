-- A new connection of project $1 named $2 (description $3, encrypted
-- credentials $4), unless the project has one of that name (no row).
-- The connection `c` as the API shows it, in Infisical's shape (its
-- `SanitizedHumanitecConnectionSchema`): never its credentials
-- (`credentials: {}`), with the fields Infisical's clients read set to
-- what is true here; `p` is its project. The same object in every
-- `connections/*.sql` that returns one (a unit test in `sql/mod.rs` checks).
WITH c AS (
    INSERT INTO app_connections (project_id, name, description, encrypted_credentials)
    SELECT $1, $2, $3, $4
     WHERE NOT EXISTS (SELECT 1 FROM app_connections WHERE project_id = $1 AND name = $2)
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
