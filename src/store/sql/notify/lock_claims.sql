-- Serialises claims of every worker (`CLAIM_LOCK` is $1), so the
-- per-channel and per-project caps count every claim.
SELECT pg_advisory_xact_lock($1)
