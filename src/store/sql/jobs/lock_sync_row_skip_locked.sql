-- Locks sync $1's row, or returns nothing if someone holds it (the
-- reaper never waits).
SELECT 1 FROM secret_syncs WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED
