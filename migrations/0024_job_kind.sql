-- The job's kind with its options (`sync`, `sync+prune`,
-- `import:prioritize-source`, `remove+delete-sync`, ...), written when the
-- job is queued: a row whose message was lost (a Postgres failover that
-- kept the row but lost the outcome) is published again as it was asked.
-- NULL on rows queued before this column: those are published again by
-- their type, imports not at all (their behaviour is unknown).
ALTER TABLE secret_sync_jobs ADD COLUMN kind text NULL;
