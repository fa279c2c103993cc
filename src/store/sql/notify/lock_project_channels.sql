-- Serialises creating project $1's notification channels (until the
-- transaction ends), so racing creates cannot pass its limit together.
SELECT pg_advisory_xact_lock(hashtextextended('notification_channels:' || $1, 0))
