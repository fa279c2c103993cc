-- Connection $1 as the jobs read it (credentials still encrypted).
SELECT id, project_id, name, app, method, encrypted_credentials FROM app_connections WHERE id = $1
