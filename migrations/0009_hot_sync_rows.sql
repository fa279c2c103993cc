-- Status and lease writes on a sync row (three per job) as in-place (HOT)
-- updates: no index of secret_syncs covers the columns they change any
-- more, and each page keeps room for the new row versions.
--
-- No query used this index (the dashboard orders by status and name); it
-- covered updated_at and the status columns, so every status write added
-- an entry to all six indexes of the table.
DROP INDEX IF EXISTS secret_syncs_failing_idx;
ALTER TABLE secret_syncs SET (fillfactor = 70);
