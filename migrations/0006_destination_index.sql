-- The conflict check looks up every sync writing to one Humanitec app.
CREATE INDEX IF NOT EXISTS secret_syncs_destination_idx
    ON secret_syncs ((destination_config->>'org'), (destination_config->>'app'));
