-- Whether connection $1 exists.
SELECT 1 FROM app_connections WHERE id = $1
