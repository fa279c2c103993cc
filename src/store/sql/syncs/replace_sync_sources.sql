-- Sync $1's last run read the folders ($2[i] environment slug, $3[i]
-- path) besides its own: the set replaces the one recorded before.
WITH wanted AS (
    SELECT DISTINCT w.slug, w.path FROM unnest($2::text[], $3::text[]) AS w(slug, path)
), gone AS (
    DELETE FROM secret_sync_sources r
     WHERE r.sync_id = $1
       AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.slug = r.environment_slug AND w.path = r.path)
)
INSERT INTO secret_sync_sources (sync_id, environment_slug, path)
SELECT $1, w.slug, w.path FROM wanted w
ON CONFLICT DO NOTHING
