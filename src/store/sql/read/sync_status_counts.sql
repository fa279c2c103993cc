-- Syncs by the status of their latest sync job (`never` when none ran).
SELECT coalesce(sync_status, 'never'), count(*) FROM secret_syncs GROUP BY 1
