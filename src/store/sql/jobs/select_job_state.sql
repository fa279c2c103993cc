-- Job $1's state (as `job_state_at` reads it).
SELECT status, attempt, covers_until FROM secret_sync_jobs WHERE id = $1
