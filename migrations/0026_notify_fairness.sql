-- Fair, bounded notification delivery (issue 36): a claim belongs to one
-- dispatcher (`claimed_by`), which extends it while its send runs and
-- alone may extend it; a delivery that still fails NOTIFY_GIVE_UP_AFTER
-- after its first event is given up (`given_up_at`) and no longer
-- claimed; the channel says why in `last_error`.
ALTER TABLE notification_outbox
    ADD COLUMN claimed_by   uuid NULL,
    ADD COLUMN given_up_at  timestamptz NULL;

-- The claim reads the deliveries still to send, by project and channel.
DROP INDEX IF EXISTS notification_outbox_pending;
CREATE INDEX notification_outbox_pending ON notification_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE INDEX notification_outbox_delivery ON notification_outbox (delivery_id)
    WHERE delivered_at IS NULL;
