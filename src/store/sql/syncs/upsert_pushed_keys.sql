-- Records sync $1's pushes to destination $2: keys $3 with fingerprints
-- $4, secret versions $5 and Humanitec's created/updated stamps $6, $7
-- (arrays of one length).
INSERT INTO secret_sync_pushed_keys
    (sync_id, destination, key, fingerprint, secret_version, dest_created_at, dest_updated_at)
SELECT $1, $2, k, f, v, c, u
  FROM unnest($3::text[], $4::bytea[], $5::text[], $6::text[], $7::text[]) AS t(k, f, v, c, u)
ON CONFLICT (sync_id, destination, key) DO UPDATE
   SET fingerprint = EXCLUDED.fingerprint,
       secret_version = EXCLUDED.secret_version,
       dest_created_at = EXCLUDED.dest_created_at,
       dest_updated_at = EXCLUDED.dest_updated_at, pushed_at = now()
