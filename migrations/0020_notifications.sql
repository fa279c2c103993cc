-- Notifications: channels per project (a signed JSON webhook or a Slack
-- incoming webhook; URL and signing secret encrypted like connection
-- credentials), an outbox written in the same statement as the job outcome
-- that changes a sync's state (failed after its last attempt; recovered),
-- and each delivery attempt, kept for the channel's page.
CREATE TABLE notification_channels (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id        text NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name              text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('webhook', 'slack')),
    encrypted_url     bytea NOT NULL,
    encrypted_secret  bytea NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- set while deliveries keep failing; cleared by the next success
    failing_since     timestamptz NULL,
    last_error        text NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE notification_outbox (
    id               bigserial PRIMARY KEY,
    channel_id       uuid NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    project_id       text NOT NULL,
    sync_id          uuid NOT NULL,
    job_id           uuid NOT NULL,
    job_type         text NOT NULL,
    -- failed | recovered
    event            text NOT NULL,
    message          text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- the delivery (one message, maybe a digest) this event went out in;
    -- its id is the idempotency id receivers deduplicate on
    delivery_id      uuid NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_until    timestamptz NULL,
    delivered_at     timestamptz NULL
);
CREATE INDEX notification_outbox_pending ON notification_outbox (next_attempt_at)
    WHERE delivered_at IS NULL;

CREATE TABLE notification_attempts (
    id           bigserial PRIMARY KEY,
    channel_id   uuid NOT NULL REFERENCES notification_channels(id) ON DELETE CASCADE,
    delivery_id  uuid NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    events       integer NOT NULL,
    status_code  integer NULL,
    error        text NULL
);
CREATE INDEX notification_attempts_channel ON notification_attempts (channel_id, at DESC);
