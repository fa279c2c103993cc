-- Channel $1's last $2 delivery attempts, newest first.
SELECT delivery_id, at, events, status_code, error FROM notification_attempts
 WHERE channel_id = $1 ORDER BY at DESC, id DESC LIMIT $2
