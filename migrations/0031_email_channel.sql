-- Email notification channels (issue 41). An `email` channel's
-- encrypted_url holds the server it connects to, `smtp://host:port`
-- (STARTTLS required) or `smtps://host:port` (implicit TLS), encrypted like
-- a webhook's URL; encrypted_secret its SMTP password (NULL: no AUTH);
-- `email` the rest, nothing secret: {"username", "from", "to": [...]}.
ALTER TABLE notification_channels
    DROP CONSTRAINT IF EXISTS notification_channels_kind_check,
    ADD CONSTRAINT notification_channels_kind_check
        CHECK (kind IN ('webhook', 'slack', 'email')),
    ADD COLUMN email jsonb NULL,
    ADD CONSTRAINT notification_channels_email_settings
        CHECK ((kind = 'email') = (email IS NOT NULL));
