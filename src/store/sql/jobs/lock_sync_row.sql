-- Locks sync $1's row ahead of its job's row (the lock order, see
-- `jobs/lifecycle.rs`).
SELECT 1 FROM secret_syncs WHERE id = $1 FOR NO KEY UPDATE
