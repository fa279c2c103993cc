-- One delivery attempt as channel $1's page lists it: delivery $2, $3
-- events, HTTP status $4, error $5.
INSERT INTO notification_attempts (channel_id, delivery_id, events, status_code, error)
VALUES ($1, $2, $3, $4, $5)
