-- Sync $1 as the seed API's `secretSync` object (the `secret_syncs_api` view).
SELECT secret_sync FROM secret_syncs_api WHERE id = $1
