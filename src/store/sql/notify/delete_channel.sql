-- Deletes notification channel $1 (its outbox and attempts with it).
DELETE FROM notification_channels WHERE id = $1
