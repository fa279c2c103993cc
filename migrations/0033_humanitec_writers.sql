-- Which worker processes write to Humanitec with which token now, and how
-- many writes each allows in flight: the fleet shares one budget per token
-- (src/humanitec/window.rs, src/engine/maintenance/fleet.rs). The token is
-- kept only as a keyed hash (HMAC with the instance's key).
--
-- UNLOGGED: these rows live for seconds and are rewritten several times a
-- second while a worker writes; they need no WAL, and after a crash or a
-- failover an empty table only means each worker writes alone until the
-- next report (a quarter of a second).
CREATE UNLOGGED TABLE secret_sync_humanitec_writers (
    token_key bytea NOT NULL,
    worker_id text NOT NULL,
    write_limit integer NOT NULL CHECK (write_limit >= 0),
    avoiding boolean NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_key, worker_id)
);
