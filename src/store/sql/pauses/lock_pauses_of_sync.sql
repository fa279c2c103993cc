-- `park_job`: the active pauses that hold sync $1 (its connection's and
-- the instance's), share-locked: a resume ending one waits for the park
-- to commit (and then releases the parked job), or the park sees it
-- ended and does not park. No row: nothing holds the sync now.
SELECT p.id FROM secret_sync_pauses p
 WHERE p.resumed_at IS NULL
   AND (p.connection_id IS NULL
        OR p.connection_id = (SELECT connection_id FROM secret_syncs WHERE id = $1))
   FOR SHARE OF p
