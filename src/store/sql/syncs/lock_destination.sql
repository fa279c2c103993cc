-- The destination check's lock on one Humanitec app ($1:
-- `secret-sync destination org/app`), until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended($1, 0))
